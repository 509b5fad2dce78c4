package ort

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"

	onnxruntime "github.com/yalue/onnxruntime_go"
)

// LibraryEnv is the environment variable that names the ONNX Runtime shared library.
const LibraryEnv = "ORT_LIB"

// systemLibrary is what the dynamic loader is asked for when nothing else is found.
const systemLibrary = "libonnxruntime.so"

// FindLibrary returns the ONNX Runtime shared library to load, in this order: explicit
// (when not empty), $ORT_LIB, the repository's pinned copy next to the executable
// (<exe dir>/../.ort/lib or <exe dir>/.ort/lib, as `make build` lays it out), .ort/lib
// in the working directory or any directory above it, and finally the bare name
// libonnxruntime.so for the system's dynamic loader (LD_LIBRARY_PATH, ld.so.cache).
func FindLibrary(explicit string) string {
	if explicit != "" {
		return explicit
	}
	if p := os.Getenv(LibraryEnv); p != "" {
		return p
	}
	var dirs []string
	if exe, err := os.Executable(); err == nil {
		if exe, err = filepath.EvalSymlinks(exe); err == nil {
			d := filepath.Dir(exe)
			dirs = append(dirs, filepath.Join(d, "..", ".ort", "lib"), filepath.Join(d, ".ort", "lib"))
		}
	}
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			dirs = append(dirs, filepath.Join(d, ".ort", "lib"))
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	for _, d := range dirs {
		if p := libraryIn(d); p != "" {
			return p
		}
	}
	return systemLibrary
}

// libraryIn returns the ONNX Runtime library in dir, or "" if there is none: the
// versioned file (what libonnxruntime.so links to) is preferred.
func libraryIn(dir string) string {
	matches, _ := filepath.Glob(filepath.Join(dir, "libonnxruntime.so.*"))
	sort.Strings(matches)
	for i := len(matches) - 1; i >= 0; i-- {
		if st, err := os.Stat(matches[i]); err == nil && st.Mode().IsRegular() {
			return matches[i]
		}
	}
	p := filepath.Join(dir, systemLibrary)
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return ""
}

// The ONNX Runtime environment is process-wide: it is initialised once, from the first
// library asked for, and never torn down.
var env struct {
	sync.Mutex
	path    string
	version string
	err     error
	done    bool
}

// ErrNoLibrary is wrapped by the error of Init when the ONNX Runtime library could not be
// loaded.
var ErrNoLibrary = errors.New("could not load the ONNX Runtime library")

// Init loads the ONNX Runtime shared library (FindLibrary(explicit)) and initialises the
// process-wide environment, once; later calls return the first outcome. It returns the
// library's path and version. A second call asking for another library is refused.
func Init(explicit string) (path, version string, err error) {
	env.Lock()
	defer env.Unlock()
	want := FindLibrary(explicit)
	if env.done {
		if env.err == nil && explicit != "" && want != env.path {
			return env.path, env.version, fmt.Errorf("onnx runtime already loaded from %s, cannot also load %s", env.path, want)
		}
		return env.path, env.version, env.err
	}
	env.done = true
	// The runtime's own log would add lines to the one-line errors that report its
	// failures; only fatal messages are printed.
	env.path = want
	onnxruntime.SetSharedLibraryPath(want)
	if e := onnxruntime.InitializeEnvironment(onnxruntime.WithLogLevelFatal()); e != nil {
		env.err = fmt.Errorf("%w %s (set %s to libonnxruntime.so, or run `make deps`): %v", ErrNoLibrary, want, LibraryEnv, oneLine(e.Error()))
		return want, "", env.err
	}
	env.version = onnxruntime.GetVersion()
	return want, env.version, nil
}

// oneLine folds an error message from the runtime onto one line.
func oneLine(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c == '\n' || c == '\r' {
			b[i] = ' '
		}
	}
	return string(b)
}
