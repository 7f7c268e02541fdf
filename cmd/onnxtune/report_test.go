package main

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnxtune/onnxtune/report"
)

// reportCases are eval --report and train --report on the binary fixtures, with the figures
// each report must reference.
var reportCases = []struct {
	name  string
	args  []string
	files []string
}{
	{"eval", []string{"eval", "../../train/testdata/binary/bin1.onnx", "--data", "../../train/testdata/binary/scans_val", "--calibrate", "--bootstrap", "20"},
		[]string{report.ConfusionPNG, report.ROCPNG, report.PRPNG, report.ReliabilityPNG}},
	{"train", []string{"train", "../../train/testdata/binary/bin1.onnx", "--data", "../../train/testdata/binary/scans",
		"--val", "../../train/testdata/binary/scans_val", "--loss", "bce-logits", "--epochs", "2"},
		[]string{report.LossPNG, report.MetricsPNG, report.ConfusionPNG, report.ROCPNG, report.PRPNG, report.ReliabilityPNG}},
}

// TestReport writes each report and checks that every file index.html references exists and
// every PNG decodes, at least 300 pixels a side.
func TestReport(t *testing.T) {
	for _, c := range reportCases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "report")
			args := append(c.args, "--report", dir)
			if c.name == "train" {
				args = append(args, "--out", filepath.Join(t.TempDir(), "tuned.onnx"))
			}
			if _, stderr, code := onnxtune(args...); code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			files, err := report.Verify(dir, 300)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range c.files {
				if !strings.Contains(strings.Join(files, " "), want) {
					t.Errorf("index.html references %v; want %s among them", files, want)
				}
			}
			if c.name == "train" {
				checkInChromium(t, dir)
			}
		})
	}
}

// TestReportBadDir checks that a --report that cannot be a folder fails at once, in one line
// naming it.
func TestReportBadDir(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range reportCases {
		args := append(c.args, "--report", file, "--out", filepath.Join(t.TempDir(), "tuned.onnx"))
		if c.name == "eval" {
			args = append(c.args, "--report", file)
		}
		_, stderr, code := onnxtune(args...)
		if code == 0 || !strings.Contains(stderr, file) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%s --report %s: exit %d, stderr %q; want a failure naming it in one line", c.name, file, code, stderr)
		}
	}
}

// chromium is Debian's Chromium, which scripts/setup.sh installs.
const chromium = "/usr/bin/chromium"

// checkInChromium opens dir's index.html in headless Chromium and checks that the screenshot
// decodes and is not blank: some pixels dark (text and lines), some coloured (the figures).
func checkInChromium(t *testing.T, dir string) {
	if _, err := os.Stat(chromium); err != nil {
		// CI installs it (scripts/setup.sh): there a missing browser is a failure, not a skip.
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing (scripts/setup.sh installs it): %v", chromium, err)
		}
		t.Skipf("%s is missing (scripts/setup.sh installs it): %v", chromium, err)
	}
	shot := filepath.Join(t.TempDir(), "screenshot.png")
	page, err := filepath.Abs(filepath.Join(dir, report.Index))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
		"--user-data-dir="+t.TempDir(), "--screenshot="+shot, "--window-size=1200,2600", "file://"+page)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, out)
	}
	b, err := os.ReadFile(shot)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("the screenshot: %v", err)
	}
	dark, coloured := countPixels(img)
	if dark < 1000 || coloured < 1000 {
		t.Errorf("the screenshot has %d dark and %d coloured pixels; want a page with text and figures", dark, coloured)
	}
	if keep := os.Getenv("REPORT_SCREENSHOT"); keep != "" { // to look at it
		if err := os.WriteFile(keep, b, 0o644); err != nil {
			t.Error(err)
		}
	}
}

// countPixels counts the pixels of img that are dark and those that are coloured (not grey).
func countPixels(img image.Image) (dark, coloured int) {
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			if r+g+b < 3*0x4000 {
				dark++
			}
			if max(r, g, b)-min(r, g, b) > 0x3000 {
				coloured++
			}
		}
	}
	return dark, coloured
}
