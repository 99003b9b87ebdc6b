package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// runContainerCommand is the hidden subcommand a container process starts as, inside the pod's private
// mount namespace (created by `unshare --mount --propagation private`):
//
//	process-node run-container --hosts FILE [--hostname NAME] [--mount SRC=DST]... -- BINARY ARGS...
//
// It bind-mounts the hosts file over /etc/hosts and each volume at its mountPath, sets the hostname (the pod's,
// in the container's own UTS namespace, as a container runtime does), then execs the binary.
// Every path is opened before the first mount and mounted or executed through /proc/self/fd, because a mount
// may cover the others: an emptyDir on /tmp hides a state directory or a binary that lives under /tmp.
const runContainerCommand = "run-container"

// containerSpec is what run-container does.
type containerSpec struct {
	hosts    string
	hostname string
	mounts   [][2]string // source, target
	argv     []string
}

func parseRunContainer(args []string) (containerSpec, error) {
	var s containerSpec
	for len(args) > 0 {
		switch a := args[0]; {
		case a == "--":
			s.argv = args[1:]
			if len(s.argv) == 0 {
				return s, errors.New("no command after --")
			}
			if s.hosts == "" {
				return s, errors.New("--hosts is required")
			}
			return s, nil
		case a == "--hosts" && len(args) > 1:
			s.hosts, args = args[1], args[2:]
		case a == "--hostname" && len(args) > 1:
			s.hostname, args = args[1], args[2:]
		case a == "--mount" && len(args) > 1:
			src, dst, ok := strings.Cut(args[1], "=")
			if !ok || src == "" || !filepath.IsAbs(dst) {
				return s, fmt.Errorf("--mount %q: want SRC=/absolute/target", args[1])
			}
			s.mounts, args = append(s.mounts, [2]string{src, dst}), args[2:]
		default:
			return s, fmt.Errorf("unexpected argument %q", a)
		}
	}
	return s, errors.New("missing -- before the command")
}

// runContainer performs the mounts and execs the command; it returns only on failure.
func runContainer(args []string) error {
	spec, err := parseRunContainer(args)
	if err != nil {
		return err
	}
	open := func(path string) (*os.File, os.FileInfo, error) {
		f, err := os.Open(path)
		if err != nil {
			return nil, nil, err
		}
		fi, err := f.Stat()
		return f, fi, err
	}
	fdPath := func(f *os.File) string { return fmt.Sprintf("/proc/self/fd/%d", f.Fd()) }

	hosts, _, err := open(spec.hosts)
	if err != nil {
		return fmt.Errorf("hosts file: %w", err)
	}
	type source struct {
		f     *os.File
		isDir bool
		dst   string
	}
	var sources []source
	for _, m := range spec.mounts {
		f, fi, err := open(m[0])
		if err != nil {
			return fmt.Errorf("volume source: %w", err)
		}
		sources = append(sources, source{f, fi.IsDir(), m[1]})
	}
	bin, _, err := open(spec.argv[0])
	if err != nil {
		return fmt.Errorf("container binary: %w", err)
	}

	if err := syscall.Mount(fdPath(hosts), "/etc/hosts", "", syscall.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind hosts file: %w", err)
	}
	for _, s := range sources {
		if err := ensureTarget(s.dst, s.isDir); err != nil {
			return err
		}
		if err := syscall.Mount(fdPath(s.f), s.dst, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
			return fmt.Errorf("bind %s: %w", s.dst, err)
		}
	}
	if spec.hostname != "" {
		if err := syscall.Sethostname([]byte(spec.hostname)); err != nil {
			return fmt.Errorf("set hostname: %w", err)
		}
	}
	return syscall.Exec(fdPath(bin), spec.argv, os.Environ())
}

// ensureTarget creates a mount target: a directory, or an empty file for a file volume (subPath).
func ensureTarget(path string, isDir bool) error {
	if isDir {
		return os.MkdirAll(path, 0o755)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDONLY, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}
