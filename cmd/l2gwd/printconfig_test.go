package main

import (
	"bytes"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// printConfig runs l2gwd with args, the environment e and --print-config,
// and returns what it printed; it fails the test unless l2gwd exits 0.
func printConfig(t *testing.T, e map[string]string, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := daemon(append(args, "--print-config"), env(e), &stdout, &stderr); code != 0 {
		t.Fatalf("l2gwd %v --print-config: exit %d, stderr %s", args, code, &stderr)
	}
	return stdout.String()
}

// printedLine matches a line of --print-config: key, value, source.
var printedLine = regexp.MustCompile(`^([a-z0-9-]+): (.*) # (flag|env L2GW_[A-Z0-9_]+|file|default)$`)

func TestPrintConfigShowsEveryKeyAndItsSource(t *testing.T) {
	file := writeConfig(t, "tunnel-ip: 198.51.100.1\nbridge: br-file\ndata-dir: /file\n")
	out := printConfig(t, map[string]string{"L2GW_DATA_DIR": "/env", "L2GW_LOG_FORMAT": "json"},
		"--config", file, "--api-max-inflight", "9")
	for _, want := range []string{
		"tunnel-ip: 198.51.100.1 # file\n", "bridge: br-file # file\n", "data-dir: /env # env L2GW_DATA_DIR\n",
		"log-format: json # env L2GW_LOG_FORMAT\n", "api-max-inflight: 9 # flag\n", "insecure: false # default\n",
		"api-token-file: \"\" # default\n", "# Config file: " + file + " (flag)\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("--print-config lacks %q:\n%s", want, out)
		}
	}
	keys := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if m := printedLine.FindStringSubmatch(line); m != nil {
			keys[m[1]] = true
		} else if !strings.HasPrefix(line, "#") {
			t.Errorf("--print-config line %q is neither a comment nor key: value # source", line)
		}
	}
	(&config{}).flagSet(io.Discard).VisitAll(func(f *flag.Flag) {
		if keys[f.Name] != inFile(f.Name) {
			t.Errorf("flag %s printed: %v, want %v", f.Name, keys[f.Name], inFile(f.Name))
		}
	})
}

func TestPrintConfigOutputIsAConfigFileOfTheSameConfiguration(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "api token: #1")
	if err := os.WriteFile(tokenFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--config", writeConfig(t, "tunnel-ip: 198.51.100.1\nbridge: \"yes\"\n"),
		"--data-dir", "/var/lib/l2gw site #2: 'a' \"b\"", "--api-listen", "[::]:8443", "--insecure",
		"--api-token-file", tokenFile, "--log-level", "debug", "--learn-idle-timeout", "0x40"}
	e := map[string]string{"L2GW_OVSDB": "tcp:192.0.2.10:6640", "L2GW_DATAPATH_TYPE": "netdev", "L2GW_API_MAX_INFLIGHT": "12"}
	first := printConfig(t, e, args...)

	printed := writeConfig(t, first)
	second := printConfig(t, nil, "--config", printed)
	values := func(out string) []string {
		var kv []string
		for _, line := range strings.Split(out, "\n") {
			if m := printedLine.FindStringSubmatch(line); m != nil {
				kv = append(kv, m[1]+": "+m[2])
			}
		}
		return kv
	}
	if !reflect.DeepEqual(values(first), values(second)) {
		t.Errorf("the configuration changed through its printout:\nfirst:\n%s\nsecond:\n%s", first, second)
	}
	if strings.Count(second, "# file\n") != len(values(second)) {
		t.Errorf("read back from the printout, every value must come from the file:\n%s", second)
	}

	want, err := parseConfig(args, env(e), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	got, err := parseConfig([]string{"--config", printed}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want.sources, want.ConfigFile, got.sources, got.ConfigFile = nil, "", nil, ""
	if !reflect.DeepEqual(got, want) {
		t.Errorf("config read from the printout\n%+v\nwant\n%+v", got, want)
	}
}

func TestPrintConfigNeverShowsASecret(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("s3cret-t0ken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := printConfig(t, nil, "--tunnel-ip", "198.51.100.1", "--api-token-file", tokenFile)
	if strings.Contains(out, "s3cret-t0ken") {
		t.Errorf("--print-config shows the API token:\n%s", out)
	}
	if !strings.Contains(out, "api-token-file: "+tokenFile+" # flag\n") {
		t.Errorf("--print-config does not show the token file's path:\n%s", out)
	}
	// --print-config prints every flag value: a secret must come from a
	// file that a flag names, never be a flag's value.
	secret := regexp.MustCompile(`token|secret|password|passwd|credential`)
	(&config{}).flagSet(io.Discard).VisitAll(func(f *flag.Flag) {
		if secret.MatchString(f.Name) && !strings.HasSuffix(f.Name, "-file") {
			t.Errorf("flag --%s looks like it holds a secret: take a file holding it (--%s-file) instead", f.Name, f.Name)
		}
	})
}

func TestPrintConfigRefusesAConfigurationL2gwdWouldRefuse(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := daemon([]string{"--print-config", "--datapath-type", "dpdk"}, env(nil), &stdout, &stderr)
	if code != 2 || stdout.Len() > 0 || !strings.Contains(stderr.String(), "--tunnel-ip is required") {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit 2 with the reason on stderr only", code, &stdout, &stderr)
	}
}
