//go:build !linux

package oci

import "errors"

var errUseRoot = errors.New("openat2 unavailable")

func readAt(int, string, []byte) (int, error) { return 0, errUseRoot }
func statAt(int, string) (int64, bool, error) { return 0, false, errUseRoot }
