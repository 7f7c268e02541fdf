// Package atomicfile writes files so that a reader, or a crash, never sees half of one: the
// output goes to a temporary file beside the target and is renamed over it only when complete.
package atomicfile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// Write creates path by calling write on a temporary file in the same directory and renaming it
// into place once write and the file's Sync and Close have succeeded. On any error the
// temporary file is removed and path is left as it was.
func Write(path string, write func(io.Writer) error) error {
	tmp, err := writeTemp(path, write)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// WriteAll writes several files that are only right together (a model and its external
// data): every one to a temporary file first, and only once all of them are complete and
// synced, renames them into place in the order given. A failure before the renames (a full
// disk) leaves every path as it was.
func WriteAll(paths []string, data [][]byte) error {
	tmps := make([]string, 0, len(paths))
	defer func() {
		for _, tmp := range tmps {
			os.Remove(tmp) // after a rename, there is no such file any more
		}
	}()
	for i, path := range paths {
		tmp, err := writeTemp(path, func(w io.Writer) error {
			_, err := w.Write(data[i])
			return err
		})
		if err != nil {
			return err
		}
		tmps = append(tmps, tmp)
	}
	for i, tmp := range tmps {
		if err := os.Rename(tmp, paths[i]); err != nil {
			return err
		}
	}
	return nil
}

// writeTemp writes a complete, synced temporary file beside path and returns its name.
func writeTemp(path string, write func(io.Writer) error) (name string, err error) {
	if st, statErr := os.Stat(path); statErr == nil && st.IsDir() {
		return "", fmt.Errorf("%s: is a directory", path)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return "", fmt.Errorf("%s: %w", filepath.Dir(path), diskFull(pe.Err))
		}
		return "", err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<16)
	if err = write(bw); err != nil {
		return "", diskFull(err)
	}
	if err = bw.Flush(); err != nil {
		return "", diskFull(err)
	}
	if err = f.Sync(); err != nil {
		return "", diskFull(err)
	}
	if err = f.Close(); err != nil {
		return "", diskFull(err)
	}
	if err = os.Chmod(f.Name(), 0o644); err != nil {
		return "", err
	}
	return f.Name(), nil
}

// ErrDiskFull is what a write that ran out of space (or of quota) wraps: it names the cause
// in words, since "write .x.tmp123: no space left on device" names neither the file meant
// nor what became of it.
var ErrDiskFull = errors.New("the disk is full; the file was not replaced")

func diskFull(err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return ErrDiskFull
	}
	return err
}

// CheckWritable reports whether Write could create path: that its folder exists and takes a
// new file, and path is no folder. It creates and removes a temporary file there, so that
// a long computation whose result goes to path fails before it starts, not after.
func CheckWritable(path string) error {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return fmt.Errorf("%s: is a directory", path)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".check*")
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return fmt.Errorf("%s: %w", filepath.Dir(path), pe.Err)
		}
		return err
	}
	f.Close()
	return os.Remove(f.Name())
}

// WriteBytes is Write for data already in memory.
func WriteBytes(path string, data []byte) error {
	return Write(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}
