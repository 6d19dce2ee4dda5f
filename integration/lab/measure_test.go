package lab

import "testing"

func TestParseVmHWM(t *testing.T) {
	status := "Name:\tl2gwd\nVmPeak:\t 1300000 kB\nVmHWM:\t   81234 kB\nVmRSS:\t   80000 kB\n"
	if kb, err := parseVmHWM(status); err != nil || kb != 81234 {
		t.Errorf("parseVmHWM = %d, %v; want 81234", kb, err)
	}
	for _, bad := range []string{"Name:\tl2gwd\n", "VmHWM:\t81234 MB\n", "VmHWM:\tlots kB\n"} {
		if kb, err := parseVmHWM(bad); err == nil {
			t.Errorf("parseVmHWM(%q) = %d, want an error", bad, kb)
		}
	}
}
