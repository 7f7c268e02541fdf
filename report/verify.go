package report

import (
	"bytes"
	"fmt"
	"image/png"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// references finds the src and href attributes of a page: the files a browser fetches or
// follows.
var references = regexp.MustCompile(`\b(?:src|href)="([^"]*)"`)

// Verify checks the report in dir as a browser would read it: index.html exists, every file
// it references is a relative path inside dir that exists, and every PNG among them decodes
// to an image at least minSide pixels on each side. It returns the files referenced.
func Verify(dir string, minSide int) ([]string, error) {
	page, err := os.ReadFile(filepath.Join(dir, Index))
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	var files []string
	for _, m := range references.FindAllSubmatch(page, -1) {
		ref := string(m[1])
		u, err := url.Parse(ref)
		if err != nil || u.IsAbs() || u.Host != "" || strings.HasPrefix(u.Path, "/") || strings.Contains(u.Path, "..") {
			return nil, fmt.Errorf("report: %s references %q: want a file beside it", Index, ref)
		}
		path := filepath.Join(dir, filepath.FromSlash(u.Path))
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("report: %s references %s: %w", Index, ref, err)
		}
		if strings.HasSuffix(strings.ToLower(u.Path), ".png") {
			img, err := png.Decode(bytes.NewReader(b))
			if err != nil {
				return nil, fmt.Errorf("report: %s: %w", path, err)
			}
			if s := img.Bounds().Size(); s.X < minSide || s.Y < minSide {
				return nil, fmt.Errorf("report: %s is %dx%d pixels; want at least %d on each side", path, s.X, s.Y, minSide)
			}
		}
		files = append(files, u.Path)
	}
	return files, nil
}
