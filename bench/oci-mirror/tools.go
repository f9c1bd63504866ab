package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/labops/labops/bench/internal/benchreg"
)

func same(repo string) string { return repo }

func allTools() []tool {
	return []tool{
		{name: "labops", what: "labops oci mirror --apply (plan, copy, deep check of every copied tag, digests compared)", run: labopsMirror, dstRepo: same},
		{name: "skopeo", what: "skopeo sync --all (one process, every repository in a YAML source)", run: skopeoSync, dstRepo: path.Base},
		{name: "regctl", what: "regctl image copy, one tag per process, 8 at a time", run: regctlCopy, dstRepo: same},
		{name: "crane", what: "crane copy, one tag per process, 8 at a time", run: craneCopy, dstRepo: same},
	}
}

// toolCPU sums the CPU seconds of every tool process a run started.
var toolCPU struct {
	sync.Mutex
	s float64
}

func addCPU(cmd *exec.Cmd) {
	if cmd.ProcessState == nil {
		return
	}
	toolCPU.Lock()
	toolCPU.s += (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
	toolCPU.Unlock()
}

func runCmd(ctx context.Context, env []string, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	addCPU(cmd)
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, firstLine(out.String()))
	}
	return nil
}

func labopsMirror(ctx context.Context, e *benchEnv) error {
	args := append([]string{"oci", "mirror", "http://" + e.src, "http://" + e.dst, "--apply", "--json"}, e.args...)
	cmd := exec.CommandContext(ctx, e.labops, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	addCPU(cmd)
	var res struct {
		Summary struct {
			TagsCopied    int     `json:"tags_copied"`
			BlobsUploaded int     `json:"blobs_uploaded"`
			BlobsMounted  int     `json:"blobs_mounted"`
			Requests      int64   `json:"requests"`
			Seconds       float64 `json:"duration_seconds"`
			PlanSeconds   float64 `json:"plan_seconds"`
			CopySeconds   float64 `json:"copy_seconds"`
			CheckSeconds  float64 `json:"check_seconds"`
		} `json:"summary"`
		Tags []struct {
			Repo  string `json:"repository"`
			Tag   string `json:"tag"`
			State string `json:"state"`
			Error string `json:"error"`
		} `json:"tags"`
		Errors []string `json:"errors"`
	}
	if jerr := json.Unmarshal(out.Bytes(), &res); jerr == nil {
		s := res.Summary
		e.note = fmt.Sprintf("%d tags copied, %d blobs uploaded, %d mounted, %d requests; plan %.1fs, copy %.1fs, check %.1fs", s.TagsCopied, s.BlobsUploaded, s.BlobsMounted, s.Requests, s.PlanSeconds, s.CopySeconds, s.CheckSeconds)
		for _, t := range res.Tags {
			if t.State == "failed" {
				e.note += fmt.Sprintf("; %s:%s failed: %s", t.Repo, t.Tag, t.Error)
				break
			}
		}
		if len(res.Errors) > 0 {
			e.note += "; " + res.Errors[0]
		}
	}
	if err != nil {
		return fmt.Errorf("labops: %v: %s", err, firstLine(errb.String()))
	}
	return nil
}

// skopeoSync copies every repository with one `skopeo sync`, whose YAML
// source names each repository with a tag regex matching every tag. Without
// --scoped it puts each repository under its last path component.
func skopeoSync(ctx context.Context, e *benchEnv) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:\n  tls-verify: false\n  images-by-tag-regex:\n", e.src)
	for _, r := range e.model.Repos {
		fmt.Fprintf(&b, "    %s: '.*'\n", r.Name)
	}
	if err := os.MkdirAll(e.work, 0o755); err != nil {
		return err
	}
	cfg := filepath.Join(e.work, "skopeo-sync.yaml")
	if err := os.WriteFile(cfg, []byte(b.String()), 0o644); err != nil {
		return err
	}
	return runCmd(ctx, nil, "skopeo", "sync", "--all", "--src", "yaml", "--dest", "docker", "--dest-tls-verify=false", cfg, e.dst)
}

type repoTag struct{ repo, tag string }

func (e *benchEnv) tagList() []repoTag {
	var out []repoTag
	for _, r := range e.model.Repos {
		for _, t := range r.Tags {
			out = append(out, repoTag{r.Name, t})
		}
	}
	return out
}

// loop runs f for every tag, par at a time, and keeps the first error.
func loop(e *benchEnv, f func(rt repoTag) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		n     atomic.Int64
	)
	ch := make(chan repoTag)
	for range e.par {
		wg.Go(func() {
			for rt := range ch {
				if err := f(rt); err != nil {
					n.Add(1)
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for _, rt := range e.tagList() {
		ch <- rt
	}
	close(ch)
	wg.Wait()
	if first != nil {
		return fmt.Errorf("%d tags failed: %w", n.Load(), first)
	}
	return nil
}

// regctlCopy loops `regctl image copy` over every tag (the list is given to
// it for free), with both registries set to plain HTTP.
func regctlCopy(ctx context.Context, e *benchEnv) error {
	home := filepath.Join(e.work, "regctl-home")
	if err := os.MkdirAll(home, 0o755); err != nil {
		return err
	}
	env := []string{"HOME=" + home}
	hosts := []string{"--host=reg=" + e.src + ",tls=disabled", "--host=reg=" + e.dst + ",tls=disabled"}
	return loop(e, func(rt repoTag) error {
		args := append([]string{"image", "copy"}, hosts...)
		args = append(args, e.src+"/"+rt.repo+":"+rt.tag, e.dst+"/"+rt.repo+":"+rt.tag)
		return runCmd(ctx, env, "regctl", args...)
	})
}

// craneCopy loops `crane copy` over every tag (the list given for free).
func craneCopy(ctx context.Context, e *benchEnv) error {
	return loop(e, func(rt repoTag) error {
		return runCmd(ctx, nil, "crane", "copy", "--insecure", e.src+"/"+rt.repo+":"+rt.tag, e.dst+"/"+rt.repo+":"+rt.tag)
	})
}

// verify counts the source's tags that the destination does not answer
// with the same digest (untimed, after each run).
func verify(ctx context.Context, src, dst string, m *benchreg.Model, dstRepo func(string) string) int {
	accept := strings.Join([]string{benchreg.MediaOCIIndex, benchreg.MediaOCIManifest, benchreg.MediaDockerList, benchreg.MediaDockerMan}, ",")
	var bad atomic.Int64
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, r := range m.Repos {
		for _, t := range r.Tags {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				d, err := headDigest(ctx, "http://"+dst+"/v2/"+dstRepo(r.Name)+"/manifests/"+t, accept)
				if err != nil || d != r.TagRefs[t] {
					bad.Add(1)
				}
			})
		}
	}
	wg.Wait()
	return int(bad.Load())
}

func headDigest(ctx context.Context, u, accept string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, u, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Accept", accept)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", errors.New(resp.Status)
	}
	return resp.Header.Get("Docker-Content-Digest"), nil
}
