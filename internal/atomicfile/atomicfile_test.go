package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

// TestCheckWritable: a folder that takes files passes and is left as it was; a missing
// folder, a folder as the path and a read-only folder fail naming the folder or path.
func TestCheckWritable(t *testing.T) {
	dir := t.TempDir()
	if err := CheckWritable(filepath.Join(dir, "out.onnx")); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("the check left %d files behind", len(left))
	}
	ro := filepath.Join(dir, "ro")
	if err := os.Mkdir(ro, 0o555); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, want string }{
		{filepath.Join(dir, "missing", "out.onnx"), filepath.Join(dir, "missing") + ": no such file or directory"},
		{dir, dir + ": is a directory"},
		{filepath.Join(ro, "out.onnx"), ro + ": permission denied"},
	} {
		err := CheckWritable(c.path)
		if os.Geteuid() == 0 && c.want == ro+": permission denied" {
			continue // root writes anywhere
		}
		if err == nil || err.Error() != c.want {
			t.Errorf("CheckWritable(%s) = %v, want %q", c.path, err, c.want)
		}
	}
}
