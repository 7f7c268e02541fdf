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

// TestWriteAllOrNothing: when one of the files cannot be written, none of the paths changes
// and no temporary file is left; when all can, all are replaced.
func TestWriteAllOrNothing(t *testing.T) {
	dir := t.TempDir()
	data, model, blocked := filepath.Join(dir, "w.data"), filepath.Join(dir, "m.onnx"), filepath.Join(dir, "sub")
	for path, content := range map[string]string{data: "old data", model: "old model"} {
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(blocked, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := WriteAll([]string{data, blocked, model}, [][]byte{[]byte("new data"), nil, []byte("new model")}); err == nil {
		t.Fatal("WriteAll over a folder succeeded")
	}
	for path, want := range map[string]string{data: "old data", model: "old model"} {
		if b, _ := os.ReadFile(path); string(b) != want {
			t.Errorf("%s holds %q after the failure, want %q", path, b, want)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
	if err := WriteAll([]string{data, model}, [][]byte{[]byte("new data"), []byte("new model")}); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{data: "new data", model: "new model"} {
		if b, _ := os.ReadFile(path); string(b) != want {
			t.Errorf("%s holds %q, want %q", path, b, want)
		}
	}
}
