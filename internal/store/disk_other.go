//go:build !(linux || darwin || freebsd)

package store

import "errors"

// statfs is not implemented here: the disk guard stays off.
func statfs(string) (uint64, error) { return 0, errors.New("free disk space unknown on this system") }
