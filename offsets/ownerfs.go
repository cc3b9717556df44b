package offsets

import (
	"io"
	"os"
	"path/filepath"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// The state directory holds captured rows: it and every file in it are
// created owner-only (0700 and 0600), whatever the process umask.
const (
	dirPerm  os.FileMode = 0o700
	filePerm os.FileMode = 0o600
)

// ownerOnlyFS is vfs.Default with owner-only permissions on what it creates.
type ownerOnlyFS struct{ vfs.FS }

func (fs ownerOnlyFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, c)
	return f, chmodAfter(name, filePerm, err)
}

func (fs ownerOnlyFS) OpenReadWrite(name string, c vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := fs.FS.OpenReadWrite(name, c, opts...)
	return f, chmodAfter(name, filePerm, err)
}

func (fs ownerOnlyFS) ReuseForWrite(oldname, newname string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(oldname, newname, c)
	return f, chmodAfter(newname, filePerm, err)
}

func (fs ownerOnlyFS) Lock(name string) (io.Closer, error) {
	l, err := fs.FS.Lock(name)
	if err != nil {
		return nil, err
	}
	return l, chmodAfter(name, filePerm, nil)
}

func (fs ownerOnlyFS) MkdirAll(dir string, _ os.FileMode) error {
	return fs.FS.MkdirAll(dir, dirPerm)
}

func chmodAfter(name string, perm os.FileMode, err error) error {
	if err != nil {
		return err
	}
	return os.Chmod(name, perm)
}

// tightenDir makes an existing state directory and the files in it
// owner-only (state written by versions that used the umask's modes).
func tightenDir(dir string) error {
	if err := os.MkdirAll(dir, dirPerm); err != nil {
		return err
	}
	if err := os.Chmod(dir, dirPerm); err != nil {
		return err
	}
	return filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		if d.IsDir() {
			return os.Chmod(path, dirPerm)
		}
		if d.Type().IsRegular() {
			return os.Chmod(path, filePerm)
		}
		return nil
	})
}
