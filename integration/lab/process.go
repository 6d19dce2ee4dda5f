package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/l2gw/l2gw/internal/ovstest"
)

// Process is a long-lived command running inside a site's namespace.
type Process struct {
	Name string // as given to StartProcess
	Log  string // file that receives its standard output and error
	pid  int
	done chan struct{} // closed when it has exited
	err  error         // its exit status, valid once done is closed
}

// StartProcess runs name with args inside the site's namespace, with the
// environment of the site's OVS, its standard output and error appended to
// <site>-<name>.log in the lab's LogDir (a restart under the same name keeps
// adding to the same file). The process is killed when t ends; when t failed,
// the tail of its log is written to the test log.
func (s *Site) StartProcess(t testing.TB, name string, args ...string) *Process {
	t.Helper()
	logPath := filepath.Join(s.lab.logDir, s.Name+"-"+filepath.Base(name)+".log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatalf("site %s: open log of %s: %v", s.Name, name, err)
	}
	defer logFile.Close()
	fmt.Fprintf(logFile, "=== %s: %s %s\n", time.Now().Format(time.RFC3339Nano), name, strings.Join(args, " "))
	// ip netns exec enters the namespace and execs the command in place, so
	// the process's pid is the command's own.
	cmd := s.ovs.Command(name, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("site %s: start %s: %v", s.Name, name, err)
	}
	p := &Process{Name: name, Log: logPath, pid: cmd.Process.Pid, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Kill(syscall.SIGKILL)
		p.Wait()
		if t.Failed() {
			t.Logf("site %s: last lines of %s:\n%s", s.Name, logPath, ovstest.Tail(logPath, 40))
		}
	})
	return p
}

// Pid is the process's id.
func (p *Process) Pid() int { return p.pid }

// Kill sends sig to the process; it is a no-op once the process has exited.
func (p *Process) Kill(sig syscall.Signal) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := syscall.Kill(p.pid, sig); err != nil && err != syscall.ESRCH {
		return fmt.Errorf("signal %s (pid %d): %w", p.Name, p.pid, err)
	}
	return nil
}

// Wait waits for the process to exit and returns its exit status as
// exec.Cmd.Wait does. It may be called any number of times.
func (p *Process) Wait() error {
	<-p.done
	return p.err
}

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Output returns everything the process (and earlier runs under the same
// name) wrote so far.
func (p *Process) Output() string {
	b, _ := os.ReadFile(p.Log)
	return string(b)
}
