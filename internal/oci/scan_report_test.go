package oci_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/labops/labops/internal/job"
	"github.com/labops/labops/internal/oci"
)

// TestScanReportForms checks the text, JSON and job.Result forms of one
// damaged tree's report.
func TestScanReportForms(t *testing.T) {
	t.Parallel()
	s := seedScan(t)
	s.r.Stop()
	layer := s.childM[0].Layers[2]
	must(t, os.Remove(s.r.BlobData(layer.Digest)))
	rep := scan(t, s.r.Root(), oci.ScanOptions{})

	problem := "layer " + layer.Digest + " (linux/amd64) of manifest " + s.children[0].Digest + ": missing: blob data gone"
	res := rep.Result()
	wantFindings := []job.Finding{
		{Kind: "missing-layer", Subject: "team/app:v1", Message: problem},
		{Kind: "dangling-layer-link", Subject: "team/app@" + layer.Digest, Message: "layer link team/app@" + layer.Digest + ": blob data gone (needed by 1 tags)"},
	}
	if diff := cmp.Diff(wantFindings, res.Findings); diff != "" || res.Status != job.StatusFailed {
		t.Errorf("Result: status %s, findings (-want +got):\n%s", res.Status, diff)
	}
	if res.Counters["broken_images"] != 1 || res.Counters["tags"] != 2 || res.Counters["repositories"] != 2 || res.Counters["dangling_links"] != 1 {
		t.Errorf("counters %v", res.Counters)
	}

	var text strings.Builder
	must(t, rep.WriteText(&text))
	for _, want := range []string{
		"BROKEN team/app:v1 (" + s.index.Digest + ")\n  " + problem + "\n",
		"DANGLING layer link team/app@" + layer.Digest,
		"2 repositories, 2 tags, 4 manifests, 12 blobs scanned in",
		"broken images: 1, invalid manifests: 0, dangling links: 1 (0 revision, 1 layer)",
		"status: failed, 1 broken images, 0 invalid manifests, 0 dangling revision links",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}

	var js strings.Builder
	must(t, rep.WriteJSON(&js))
	var back oci.ScanReport
	must(t, json.Unmarshal([]byte(js.String()), &back))
	back.Duration, back.Root = rep.Duration, rep.Root
	if diff := cmp.Diff(rep, &back, cmpopts.IgnoreUnexported(oci.ScanReport{}), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("JSON round trip (-report +decoded):\n%s", diff)
	}
	if !strings.Contains(js.String(), `"unreachable_blobs": []`) {
		t.Errorf("empty lists must be [] in JSON:\n%s", js.String())
	}
}
