package app

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"os"
	"time"
)

// clientBundle serves the socket.io-client browser bundle from memory, like
// Node's serveClient: read once at start, with ETag and Last-Modified.
type clientBundle struct {
	data      []byte
	etag      string
	modTime   time.Time
	name      string
	sourceMap *clientBundle
}

func newClientBundle(file string) (*clientBundle, error) {
	b, err := loadFile(file)
	if err != nil {
		return nil, err
	}
	if m, err := loadFile(file + ".map"); err == nil {
		b.sourceMap = m
	}
	return b, nil
}

// builtinClientBundle is the socket.io.min.js file of the demo files.
func builtinClientBundle(web fs.FS) (*clientBundle, error) {
	data, err := fs.ReadFile(web, "socket.io.min.js")
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	return &clientBundle{data: data, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, name: "socket.io.min.js"}, nil
}

func loadFile(file string) (*clientBundle, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(file)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	return &clientBundle{data: data, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, modTime: fi.ModTime(), name: fi.Name()}, nil
}

func (b *clientBundle) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("ETag", b.etag)
	w.Header().Set("Cache-Control", "public, max-age=0, must-revalidate")
	http.ServeContent(w, r, b.name, b.modTime, bytes.NewReader(b.data))
}

// newDemo serves the demo page: index.html rendered with the Socket.IO path,
// the other files of web as they are.
func newDemo(web fs.FS, sioPath string) (http.Handler, error) {
	tmpl, err := template.ParseFS(web, "index.html")
	if err != nil {
		return nil, fmt.Errorf("demo page: %w", err)
	}
	var index bytes.Buffer
	if err := tmpl.Execute(&index, struct{ Path string }{sioPath}); err != nil {
		return nil, fmt.Errorf("demo page: %w", err)
	}
	page := index.Bytes()
	files := http.FileServerFS(web)
	started := time.Now()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" || r.URL.Path == "/index.html" {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			http.ServeContent(w, r, "index.html", started, bytes.NewReader(page))
			return
		}
		files.ServeHTTP(w, r)
	}), nil
}
