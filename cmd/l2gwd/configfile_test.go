package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeConfig writes a config file holding content and returns its path.
func writeConfig(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "l2gwd.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCommandLineBeatsEnvironmentBeatsFileBeatsDefault(t *testing.T) {
	file := writeConfig(t, "tunnel-ip: 198.51.100.1\n"+
		"bridge: br-file\n"+
		"data-dir: /file\n"+
		"datapath-type: netdev\n"+
		"learn-idle-timeout: 60\n")
	c, err := parseConfig([]string{"--config", file, "--bridge", "br-flag"}, env(map[string]string{
		"L2GW_BRIDGE": "br-env", "L2GW_DATA_DIR": "/env", "L2GW_API_MAX_INFLIGHT": "9",
	}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ flag, got, want, origin string }{
		{"bridge", c.Bridge, "br-flag", "flag"},              // flag, env and file
		{"data-dir", c.DataDir, "/env", "env L2GW_DATA_DIR"}, // env and file
		{"datapath-type", c.DatapathType, "netdev", "file"},  // file
		{"tunnel-ip", c.TunnelIP, "198.51.100.1", "file"},    // file
		{"ovsdb", c.OVSDB, "unix:/var/run/openvswitch/db.sock", "default"},
	} {
		if tc.got != tc.want || c.sources.origin[tc.flag] != tc.origin {
			t.Errorf("%s = %q from %q, want %q from %q", tc.flag, tc.got, c.sources.origin[tc.flag], tc.want, tc.origin)
		}
	}
	if c.LearnIdleTimeout != 60 || c.APIMaxInFlight != 9 || c.sources.origin["api-max-inflight"] != "env L2GW_API_MAX_INFLIGHT" {
		t.Errorf("typed values: learn-idle-timeout %d, api-max-inflight %d from %q", c.LearnIdleTimeout, c.APIMaxInFlight,
			c.sources.origin["api-max-inflight"])
	}
}

func TestConfigFileFromTheEnvironmentAndTheFlagWins(t *testing.T) {
	fromEnv := writeConfig(t, "tunnel-ip: 198.51.100.1\nbridge: br-env-file\n")
	fromFlag := writeConfig(t, "tunnel-ip: 198.51.100.2\n")
	c, err := parseConfig(nil, env(map[string]string{"L2GW_CONFIG": fromEnv}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Bridge != "br-env-file" || c.sources.file != fromEnv || c.sources.origin["config"] != "env L2GW_CONFIG" {
		t.Errorf("L2GW_CONFIG: bridge %q, file %q from %q", c.Bridge, c.sources.file, c.sources.origin["config"])
	}
	c, err = parseConfig([]string{"--config", fromFlag}, env(map[string]string{"L2GW_CONFIG": fromEnv}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.TunnelIP != "198.51.100.2" || c.Bridge != "br-int" {
		t.Errorf("--config beside L2GW_CONFIG: tunnel-ip %q, bridge %q; want only --config's file read", c.TunnelIP, c.Bridge)
	}
}

func TestEmptyConfigFileSetsNothing(t *testing.T) {
	for _, content := range []string{"", "# nothing yet\n", "---\n", "{}\n"} {
		c, err := parseConfig([]string{"--config", writeConfig(t, content), "--tunnel-ip", "198.51.100.1"}, env(nil), &bytes.Buffer{})
		if err != nil {
			t.Errorf("config file %q: %v", content, err)
			continue
		}
		if c.Bridge != "br-int" || c.sources.origin["bridge"] != "default" {
			t.Errorf("config file %q: bridge %q from %q", content, c.Bridge, c.sources.origin["bridge"])
		}
	}
}

func TestBadConfigFileNamesFileLineAndKey(t *testing.T) {
	for _, tc := range []struct{ content, want string }{
		{"tunnel-ip: 198.51.100.1\n\ntunel-ip: 198.51.100.2\n", `:3: unknown key "tunel-ip"`},
		{"tunnel-ip: 198.51.100.1\ntunnel_ip: 198.51.100.2\n", `:2: unknown key "tunnel_ip": the keys are l2gwd's flag names (l2gwd --help); did you mean "tunnel-ip"?`},
		{"tunnel-ip: 198.51.100.1\n--bridge: br-x\n", `did you mean "bridge"?`},
		{"tunnel-ip: 198.51.100.1\nlearn-idle-timeout: five\n", `:2: key "learn-idle-timeout": "five" is not a whole number (0 or more)`},
		{"tunnel-ip: 198.51.100.1\napi-max-inflight: 8.5\n", `:2: key "api-max-inflight": "8.5" is not an integer`},
		{"tunnel-ip: 198.51.100.1\ninsecure: yes\n", `:2: key "insecure": "yes" is not true or false`},
		{"tunnel-ip: 198.51.100.1\nlog-format: xml\n", `:2: key "log-format": log format "xml": want text or json`},
		{"tunnel-ip: 198.51.100.1\nlog-level: loud\n", `:2: key "log-level"`},
		{"bridge: br-a\ntunnel-ip: 198.51.100.1\nbridge: br-b\n", `:3: key "bridge" given twice (first on line 1)`},
		{"tunnel-ip: 198.51.100.1\nbridge: [br-a, br-b]\n", `:2: key "bridge": want one value, not a list or a mapping`},
		{"tunnel-ip: 198.51.100.1\nbridge:\n", `:2: key "bridge" has no value`},
		{"tunnel-ip: 198.51.100.1\nconfig: /etc/l2gw/other.yaml\n", `:2: key "config": a config file cannot name another`},
		{"tunnel-ip: 198.51.100.1\nprint-config: true\n", `:2: key "print-config": --print-config is for the command line only`},
		{"- tunnel-ip: 198.51.100.1\n", ":1: want a mapping of flag names to values"},
		{"tunnel-ip: 198.51.100.1\n---\nbridge: br-x\n", ":2: a second YAML document"},
		{"tunnel-ip: 198.51.100.1\n  bridge: br-x\n", "yaml: line 2"},
	} {
		path := writeConfig(t, tc.content)
		_, err := parseConfig([]string{"--config", path}, env(nil), &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("config file %q: error %v, want it to name %s and say %q", tc.content, err, path, tc.want)
		}
	}
	missing := filepath.Join(t.TempDir(), "none.yaml")
	if _, err := parseConfig([]string{"--config", missing}, env(nil), &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing config file: error %v, want it to name %s", err, missing)
	}
}

func TestWrongValueIsRefusedEvenWhereAHigherSourceWins(t *testing.T) {
	path := writeConfig(t, "tunnel-ip: 198.51.100.1\nlearn-idle-timeout: five\n")
	_, err := parseConfig([]string{"--config", path, "--learn-idle-timeout", "60"}, env(nil), &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), path+":2") {
		t.Errorf("wrong file value hidden by a flag: error %v, want the file's line named", err)
	}
	_, err = parseConfig([]string{"--tunnel-ip", "198.51.100.1", "--log-format", "json"}, env(map[string]string{"L2GW_LOG_FORMAT": "xml"}), &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), `L2GW_LOG_FORMAT="xml"`) {
		t.Errorf("wrong environment value hidden by a flag: error %v, want the variable named", err)
	}
}

func TestPrintConfigIsForTheCommandLineOnly(t *testing.T) {
	c, err := parseConfig([]string{"--tunnel-ip", "198.51.100.1"}, env(map[string]string{"L2GW_PRINT_CONFIG": "true"}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.PrintConfig {
		t.Error("L2GW_PRINT_CONFIG=true turned --print-config on: a daemon would print and exit")
	}
}
