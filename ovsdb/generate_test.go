package ovsdb

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// generateDirectives returns the arguments of each of doc.go's
// //go:generate lines.
func generateDirectives(t *testing.T) [][]string {
	t.Helper()
	src, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	var all [][]string
	for line := range strings.Lines(string(src)) {
		if rest, ok := strings.CutPrefix(line, "//go:generate "); ok {
			all = append(all, strings.Fields(rest))
		}
	}
	if len(all) == 0 {
		t.Fatal("doc.go has no //go:generate line")
	}
	return all
}

// goFiles reads the .go files of dir by name.
func goFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	files := make(map[string][]byte, len(names))
	for _, name := range names {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		files[filepath.Base(name)] = data
	}
	return files
}

// TestGeneratedModelsCurrent runs each of doc.go's //go:generate
// directives (the go.mod tool modelgen, so it also proves go.mod and go.sum
// hold all it needs) into a temporary directory and checks that the
// committed models (./vswitch, ./hwvtep) are exactly what it writes: no
// file edited by hand, missing, or left over.
func TestGeneratedModelsCurrent(t *testing.T) {
	for _, args := range generateDirectives(t) {
		t.Run(args[len(args)-1], func(t *testing.T) { checkGenerated(t, args) })
	}
}

// checkGenerated runs one //go:generate directive into a temporary
// directory and compares what it writes with its committed directory.
func checkGenerated(t *testing.T, args []string) {
	out := slices.Index(args, "-o")
	if out < 0 || out+1 >= len(args) || args[0] != "go" {
		t.Fatalf("//go:generate %s: want a go command with -o <dir>", strings.Join(args, " "))
	}
	committed := args[out+1]
	args[out+1] = t.TempDir()
	cmd := exec.Command(args[0], args[1:]...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	want, got := goFiles(t, args[out+1]), goFiles(t, committed)
	if len(want) == 0 {
		t.Fatal("modelgen wrote no files")
	}
	for name, data := range want {
		switch have, ok := got[name]; {
		case !ok:
			t.Errorf("%s/%s is missing; run go generate ./ovsdb", committed, name)
		case !bytes.Equal(have, data):
			t.Errorf("%s/%s differs from what modelgen writes; run go generate ./ovsdb", committed, name)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s/%s is not generated; delete it or generate it", committed, name)
		}
	}
}
