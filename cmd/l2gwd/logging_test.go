package main

import (
	"bytes"
	"encoding/json"
	"net"
	"strings"
	"testing"
)

// failingDaemon runs l2gwd with extra flags against an API address that is
// taken, so it loads its state, logs, and stops with exit status 1; it
// returns what l2gwd logged.
func failingDaemon(t *testing.T, e map[string]string, extra ...string) string {
	t.Helper()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	args := append([]string{"--tunnel-ip", "198.51.100.1", "--data-dir", t.TempDir(), "--api-listen", taken.Addr().String()}, extra...)
	var stdout, stderr bytes.Buffer
	if code := daemon(args, env(e), &stdout, &stderr); code != 1 {
		t.Fatalf("l2gwd with its API address taken: exit %d, want 1; stderr:\n%s", code, &stderr)
	}
	return stderr.String()
}

func TestJSONLogsAreOneObjectPerLine(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		args []string
	}{
		{nil, []string{"--log-format", "json"}},
		{map[string]string{"L2GW_LOG_FORMAT": "json"}, nil},
		{nil, []string{"--config", writeConfig(t, "log-format: json\n")}},
	} {
		logged := failingDaemon(t, tc.env, tc.args...)
		lines := strings.Split(strings.TrimSuffix(logged, "\n"), "\n")
		var stopped bool
		for _, line := range lines {
			var record struct{ Time, Level, Msg, Err string }
			if err := json.Unmarshal([]byte(line), &record); err != nil {
				t.Errorf("%v %v: log line %q is not JSON: %v", tc.env, tc.args, line, err)
				continue
			}
			if record.Time == "" || record.Level == "" || record.Msg == "" {
				t.Errorf("%v %v: log line %q lacks time, level or msg", tc.env, tc.args, line)
			}
			stopped = stopped || record.Level == "ERROR" && record.Msg == "l2gwd stopped" && strings.Contains(record.Err, "api listen")
		}
		if len(lines) < 2 || !stopped {
			t.Errorf("%v %v: want the state load and the stop logged, got:\n%s", tc.env, tc.args, logged)
		}
	}
}

func TestTextLogsByDefault(t *testing.T) {
	logged := failingDaemon(t, nil)
	if !strings.Contains(logged, `level=ERROR msg="l2gwd stopped" err="api listen`) || strings.Contains(logged, "{") {
		t.Errorf("default log format: want slog text, got:\n%s", logged)
	}
}

func TestBadLogFormatIsRefused(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := daemon([]string{"--tunnel-ip", "198.51.100.1", "--log-format", "logfmt"}, env(nil), &stdout, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), `log format "logfmt": want text or json`) {
		t.Errorf("--log-format logfmt: exit %d, stderr %q; want exit 2 naming the choices", code, &stderr)
	}
}
