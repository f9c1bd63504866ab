package oci

import (
	"context"
	"path"
	"strings"
)

// scanBlobs lists blobs/<alg>/<xx>/<digest>/data, one prefix directory per
// task, recording each blob's size. What cannot be listed is unknown, never
// missing.
func (sc *scanner) scanBlobs(ctx context.Context, manifests map[string]bool) {
	top := sc.fs.list("blobs")
	if top.state == unknown {
		sc.blobsUnknown[""] = true
	}
	var prefixes []string
	for _, name := range top.refused {
		sc.blobsUnknown[name] = true
	}
	for _, a := range top.ents {
		if !a.IsDir() {
			continue
		}
		l := sc.fs.list("blobs/" + a.Name())
		if l.state == unknown {
			sc.blobsUnknown[a.Name()] = true
		}
		for _, name := range l.refused {
			sc.blobsUnknown[a.Name()+"/"+name] = true
		}
		for _, e := range l.ents {
			if e.IsDir() {
				prefixes = append(prefixes, "blobs/"+a.Name()+"/"+e.Name())
			}
		}
	}
	forEach(ctx, sc.opts.Workers, len(prefixes), func(i int) {
		dir := prefixes[i]
		alg := path.Base(path.Dir(dir))
		found, ok := sc.scanPrefix(dir, alg, manifests)
		sc.mu.Lock()
		defer sc.mu.Unlock()
		if !ok {
			sc.blobsUnknown[strings.TrimPrefix(dir, "blobs/")] = true
		}
		for _, b := range found {
			sc.blobs[b.digest] = b.blobInfo
			if b.manifest != nil {
				sc.manifests[b.digest] = b.manifest
			}
		}
	})
}

type foundBlob struct {
	digest string
	blobInfo
	manifest *storedManifest // read and parsed when the digest is a known manifest
}

// scanPrefix lists one blobs/<alg>/<xx> directory; ok is false when it
// could not be listed.
func (sc *scanner) scanPrefix(dir, alg string, manifests map[string]bool) ([]foundBlob, bool) {
	h, st := sc.fs.openDir(dir)
	if st != present {
		return nil, st == absent
	}
	defer h.close()
	names, st := sc.fs.listNames(h)
	if st != present {
		return nil, false
	}
	found := make([]foundBlob, 0, len(names))
	var buf []byte
	for _, name := range names {
		d := digestFromDir(alg, name)
		if d == "" {
			continue
		}
		if manifests[d] {
			// A manifest is read instead of stat'ed: its length is its size.
			if buf == nil {
				buf = make([]byte, 64<<10)
			}
			body, st := sc.fs.readInto(h, name+"/data", buf)
			switch {
			case st == present && len(body) < len(buf):
				found = append(found, foundBlob{d, blobInfo{state: present, size: int64(len(body))}, parseStored(d, body)})
				continue
			case st == absent:
				continue
			case st == unknown:
				found = append(found, foundBlob{digest: d, blobInfo: blobInfo{state: unknown}})
				continue
			}
			// Longer than the buffer: stat it, and read it with the rest.
		}
		switch size, st := sc.fs.statFile(h, name+"/data"); st {
		case present:
			found = append(found, foundBlob{digest: d, blobInfo: blobInfo{state: present, size: size}})
		case unknown:
			found = append(found, foundBlob{digest: d, blobInfo: blobInfo{state: unknown}})
		}
	}
	return found, true
}

// blob is what the scan knows about blob d: unknown when its directory
// could not be listed, absent when it was listed and d is not there.
func (sc *scanner) blob(d string) blobInfo {
	if b, ok := sc.blobs[d]; ok {
		return b
	}
	alg, enc, _ := strings.Cut(d, ":")
	if sc.blobsUnknown[""] || sc.blobsUnknown[alg] || (len(enc) >= 2 && sc.blobsUnknown[alg+"/"+enc[:2]]) {
		return blobInfo{state: unknown}
	}
	return blobInfo{state: absent}
}
