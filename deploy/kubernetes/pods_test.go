package kubernetes_test

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"

	"github.com/labops/labops/internal/config"
	"github.com/labops/labops/internal/kinds"
)

// The paths the manifests and labops.yaml agree on.
const (
	configPath  = "/etc/labops/labops.yaml"
	secretsRoot = "/etc/labops/secrets/"
	stateRoot   = "/var/lib/labops/"
	tokenRoot   = "/var/run/secrets/"
	image       = "ghcr.io/labops/labops"
	nonRootUID  = 65532
)

// configMapOf returns the build's ConfigMap holding labops.yaml and the
// file written to a temp dir, as the pods see it.
func configMapOf(t *testing.T, objs []object) (*corev1.ConfigMap, string) {
	t.Helper()
	var found []*corev1.ConfigMap
	for _, cm := range ofKind[*corev1.ConfigMap](objs) {
		if _, ok := cm.Data["labops.yaml"]; ok {
			found = append(found, cm)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d ConfigMaps hold labops.yaml, want 1", len(found))
	}
	p := filepath.Join(t.TempDir(), "labops.yaml")
	if err := os.WriteFile(p, []byte(found[0].Data["labops.yaml"]), 0o600); err != nil {
		t.Fatal(err)
	}
	return found[0], p
}

// loadConfig parses and validates labops.yaml the way `labops config
// check` and `labops run` do, with getenv answering from env only: a
// ${VAR} the pod does not set fails.
func loadConfig(t *testing.T, where, file string, env map[string]string) *config.File {
	t.Helper()
	f, err := config.Load(file, func(k string) string { return env[k] })
	if err == nil {
		err = f.Validate(kinds.All())
	}
	if err != nil {
		t.Fatalf("%s: labops.yaml with the pod's environment: %v", where, err)
	}
	return f
}

// podEnv is the container's environment as labops would see it; a value
// from a reference (downward API, Secret) counts as set.
func podEnv(c corev1.Container) map[string]string {
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
		if e.ValueFrom != nil {
			env[e.Name] = "set-by-" + e.Name
		}
	}
	return env
}

// labopsContainer returns the pod's only container, which must be labops.
func labopsContainer(t *testing.T, where string, spec corev1.PodSpec) corev1.Container {
	t.Helper()
	if len(spec.Containers) != 1 || len(spec.InitContainers) != 0 {
		t.Fatalf("%s: %d containers and %d init containers, want the labops container alone", where, len(spec.Containers), len(spec.InitContainers))
	}
	return spec.Containers[0]
}

// labopsArgs returns the container's labops command line (without the
// program name).
func labopsArgs(t *testing.T, where string, c corev1.Container) []string {
	t.Helper()
	if !slices.Equal(c.Command, []string{"labops"}) {
		t.Fatalf("%s: command %q, want [labops] and the command line in args", where, c.Command)
	}
	return c.Args
}

// flagValue returns the value of --name in args ("--name v" or "--name=v").
func flagValue(args []string, name string) string {
	for i, a := range args {
		if a == "--"+name && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v
		}
	}
	return ""
}

// checkPod checks what every labops pod must have, loads labops.yaml with
// the pod's environment and checks that every secret file and state
// directory the given jobs name is mounted in the pod, as are the other
// paths given (serve's --data). It returns the config as the pod loads it.
func checkPod(t *testing.T, where string, spec corev1.PodSpec, cm *corev1.ConfigMap, file string, jobNames []string, paths ...string) *config.File {
	t.Helper()
	c := labopsContainer(t, where, spec)
	checkSecurity(t, where, spec, c)
	if spec.ServiceAccountName != "labops" || spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Errorf("%s: want serviceAccountName labops and automountServiceAccountToken false (labops uses no Kubernetes API)", where)
	}
	if repo, tag, ok := strings.Cut(c.Image, ":"); repo != image || !ok || tag == "" {
		t.Errorf("%s: image %q, want %s:<tag> (the tag from kustomize images:)", where, c.Image, image)
	}
	req, lim := c.Resources.Requests, c.Resources.Limits
	if req.Cpu().IsZero() || req.Memory().IsZero() || lim.Memory().IsZero() {
		t.Errorf("%s: resources %v, want cpu and memory requests and a memory limit", where, c.Resources)
	}
	if c.Resources.Limits.Memory().Cmp(*req.Memory()) < 0 {
		t.Errorf("%s: memory limit below its request", where)
	}

	volumes := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = v
	}
	mounts := map[string]corev1.VolumeMount{} // by mount path
	for _, m := range c.VolumeMounts {
		if _, ok := volumes[m.Name]; !ok {
			t.Errorf("%s: mount %s names no volume %q", where, m.MountPath, m.Name)
		}
		mounts[m.MountPath] = m
	}
	if m, ok := mounts[configPath]; !ok || !m.ReadOnly || m.SubPath != "labops.yaml" ||
		volumes[m.Name].ConfigMap == nil || volumes[m.Name].ConfigMap.Name != cm.Name {
		t.Errorf("%s: want the ConfigMap %s mounted read-only at %s (subPath labops.yaml)", where, cm.Name, configPath)
	}
	if m, ok := mounts["/tmp"]; !ok || volumes[m.Name].EmptyDir == nil {
		t.Errorf("%s: want an emptyDir at /tmp (the root filesystem is read-only)", where)
	}
	for _, m := range c.VolumeMounts {
		if v := volumes[m.Name]; v.Secret != nil {
			checkSecretVolume(t, where, m, v)
		}
	}

	f := loadConfig(t, where, file, podEnv(c))
	used := map[string]bool{}
	for _, p := range paths {
		checkPath(t, where, p, mounts, volumes, used)
	}
	for _, name := range jobNames {
		j, ok := f.Find(name)
		if !ok {
			t.Errorf("%s: runs job %q, which labops.yaml does not have (jobs: %s)", where, name, strings.Join(f.Names(), ", "))
			continue
		}
		paths := absPaths(&j.Spec)
		paths = append(paths, j.UptimeKuma.URLFile, f.Push.Pushgateway.PasswordFile)
		slices.Sort(paths)
		for _, p := range slices.Compact(paths) {
			checkPath(t, where+": job "+name, p, mounts, volumes, used)
		}
	}
	for _, m := range c.VolumeMounts {
		if v := volumes[m.Name]; (v.Secret != nil || v.PersistentVolumeClaim != nil || v.Projected != nil) && !used[m.Name] {
			t.Errorf("%s: mounts %s at %s, which none of its jobs (%s) reads: mount only what the job needs",
				where, m.Name, m.MountPath, strings.Join(jobNames, ", "))
		}
	}
	return f
}

func checkSecurity(t *testing.T, where string, spec corev1.PodSpec, c corev1.Container) {
	t.Helper()
	isTrue := func(b *bool) bool { return b != nil && *b }
	isFalse := func(b *bool) bool { return b != nil && !*b }
	isUID := func(u *int64) bool { return u != nil && *u == nonRootUID }
	runtimeDefault := func(p *corev1.SeccompProfile) bool {
		return p != nil && p.Type == corev1.SeccompProfileTypeRuntimeDefault
	}
	var bad []string
	want := func(ok bool, what string) {
		if !ok {
			bad = append(bad, what)
		}
	}
	ps := spec.SecurityContext
	if ps == nil {
		ps = &corev1.PodSecurityContext{}
	}
	want(isTrue(ps.RunAsNonRoot), "pod runAsNonRoot: true")
	want(isUID(ps.RunAsUser), fmt.Sprintf("pod runAsUser: %d", nonRootUID))
	want(runtimeDefault(ps.SeccompProfile), "pod seccompProfile RuntimeDefault")
	cs := c.SecurityContext
	if cs == nil {
		cs = &corev1.SecurityContext{}
	}
	want(isFalse(cs.AllowPrivilegeEscalation), "container allowPrivilegeEscalation: false")
	want(isTrue(cs.ReadOnlyRootFilesystem), "container readOnlyRootFilesystem: true")
	want(isTrue(cs.RunAsNonRoot), "container runAsNonRoot: true")
	want(isUID(cs.RunAsUser), fmt.Sprintf("container runAsUser: %d", nonRootUID))
	want(cs.Capabilities != nil && slices.Equal(cs.Capabilities.Drop, []corev1.Capability{"ALL"}) && len(cs.Capabilities.Add) == 0,
		"container capabilities: drop [ALL], add none")
	want(runtimeDefault(cs.SeccompProfile), "container seccompProfile RuntimeDefault")
	want(cs.Privileged == nil || !*cs.Privileged, "container not privileged")
	if len(bad) > 0 {
		t.Errorf("%s: security context: want %s", where, strings.Join(bad, ", "))
	}
}

// checkSecretVolume: a Secret is mounted read-only at
// /etc/labops/secrets/<Secret name>, names its keys (so a missing key stops
// the pod at start, not the job at run time) and is listed in README.md.
func checkSecretVolume(t *testing.T, where string, m corev1.VolumeMount, v corev1.Volume) {
	t.Helper()
	s := v.Secret
	if !m.ReadOnly || m.MountPath != secretsRoot+s.SecretName || m.SubPath != "" {
		t.Errorf("%s: Secret %s mounted at %s (readOnly %v, subPath %q), want read-only at %s%s without subPath (a subPath never sees a rotated value)",
			where, s.SecretName, m.MountPath, m.ReadOnly, m.SubPath, secretsRoot, s.SecretName)
	}
	if len(s.Items) == 0 {
		t.Errorf("%s: Secret %s lists no items: name the keys the jobs read", where, s.SecretName)
	}
	if s.Optional != nil && *s.Optional {
		t.Errorf("%s: Secret %s is optional: a missing secret must stop the pod, not pass as empty", where, s.SecretName)
	}
	for _, it := range s.Items {
		if it.Path != it.Key {
			t.Errorf("%s: Secret %s key %s is mounted as %s; keep the key's name", where, s.SecretName, it.Key, it.Path)
		}
		if !readmeLists(t, s.SecretName, it.Key) {
			t.Errorf("%s: Secret %s key %s is not in README.md: add a line naming `%s` and `%s`", where, s.SecretName, it.Key, s.SecretName, it.Key)
		}
	}
}

// absPaths returns every scalar of a job's spec that is an absolute path.
func absPaths(n *yaml.Node) []string {
	var out []string
	if n.Kind == yaml.ScalarNode && strings.HasPrefix(n.Value, "/") {
		out = append(out, n.Value)
	}
	for _, c := range n.Content {
		out = append(out, absPaths(c)...)
	}
	return out
}

// checkPath: a path under /etc/labops/secrets is a key of a Secret mounted
// in the pod; one under /var/run/secrets is a projected service account
// token; a path under /var/lib/labops is on a mounted volume that outlives
// the pod. used records the volumes that serve a path.
func checkPath(t *testing.T, where, p string, mounts map[string]corev1.VolumeMount, volumes map[string]corev1.Volume, used map[string]bool) {
	t.Helper()
	p = path.Clean(p)
	switch {
	case strings.HasPrefix(p, secretsRoot):
		m, ok := mounts[path.Dir(p)]
		v := volumes[m.Name]
		if !ok || v.Secret == nil {
			t.Errorf("%s: %s: no Secret is mounted at %s", where, p, path.Dir(p))
			return
		}
		used[m.Name] = true
		if !slices.ContainsFunc(v.Secret.Items, func(it corev1.KeyToPath) bool { return it.Path == path.Base(p) }) {
			t.Errorf("%s: %s: Secret %s mounts no key %s", where, p, v.Secret.SecretName, path.Base(p))
		}
	case strings.HasPrefix(p, tokenRoot):
		// A service account token for an outside system (Vault's
		// Kubernetes auth): a projected token, since the pod mounts none.
		m, ok := mounts[path.Dir(p)]
		v := volumes[m.Name]
		if !ok || v.Projected == nil || !slices.ContainsFunc(v.Projected.Sources, func(s corev1.VolumeProjection) bool {
			return s.ServiceAccountToken != nil && s.ServiceAccountToken.Path == path.Base(p) && s.ServiceAccountToken.Audience != ""
		}) {
			t.Errorf("%s: %s: no projected service account token (with an audience) is mounted there", where, p)
			return
		}
		used[m.Name] = true
	case strings.HasPrefix(p, stateRoot):
		for mp, m := range mounts {
			if p == mp || strings.HasPrefix(p, mp+"/") {
				if v := volumes[m.Name]; v.PersistentVolumeClaim == nil {
					t.Errorf("%s: %s is on volume %s, which is not a PersistentVolumeClaim: its state would die with the pod", where, p, m.Name)
				}
				used[m.Name] = true
				return
			}
		}
		t.Errorf("%s: %s is on no mounted volume (the root filesystem is read-only)", where, p)
	}
}

var readme struct {
	lines []string
	err   error
	read  bool
}

// readmeLists reports whether a line of README.md names both `secret` and
// `key` (in backquotes).
func readmeLists(t *testing.T, secret, key string) bool {
	t.Helper()
	builds.Lock()
	if !readme.read {
		b, err := os.ReadFile("README.md")
		readme.lines, readme.err, readme.read = strings.Split(string(b), "\n"), err, true
	}
	builds.Unlock()
	if readme.err != nil {
		t.Fatal(readme.err)
	}
	return slices.ContainsFunc(readme.lines, func(l string) bool {
		return strings.Contains(l, "`"+secret+"`") && strings.Contains(l, "`"+key+"`")
	})
}
