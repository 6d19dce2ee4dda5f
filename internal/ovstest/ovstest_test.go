package ovstest

import (
	"strings"
	"testing"
)

func TestStartCreatesWorkingBridge(t *testing.T) {
	o := Start(t, "")
	o.Vsctl(t, "add-br", "br-test", "--", "set", "bridge", "br-test", "datapath_type=netdev")
	o.Ofctl(t, "add-flow", "br-test", "table=0,priority=5,actions=drop")
	if out := o.Ofctl(t, "dump-flows", "br-test"); !strings.Contains(out, "priority=5") {
		t.Fatalf("flow not installed in private OVS:\n%s", out)
	}
}
