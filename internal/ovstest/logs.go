package ovstest

import (
	"os"
	"strings"
)

// Tail returns the last n lines of the file at path (or why it cannot be
// read), for test logs that show what a daemon said before a failure.
func Tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
