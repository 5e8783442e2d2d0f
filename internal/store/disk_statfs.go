//go:build linux || darwin || freebsd

package store

import "syscall"

// statfs returns the bytes an unprivileged writer may still use on dir's file system.
func statfs(dir string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return uint64(st.Bavail) * uint64(st.Bsize), nil
}
