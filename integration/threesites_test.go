package integration

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/l2gw/l2gw/integration/lab"
)

// meshOfThree is sites a, b and c, one host each on network "plane", every
// gateway connected to both others on VNI 5001, each pair over its own
// tunnel type (a-b VXLAN, b-c GRE, a-c Geneve), so a frame arriving from one
// tunnel could leave by another port.
func meshOfThree(t *testing.T, prefix string) (gws map[string]*gateway, hosts map[string]*lab.Host) {
	t.Helper()
	l := newLab(t, prefix)
	gws, hosts = map[string]*gateway{}, map[string]*lab.Host{}
	for i, name := range []string{"a", "b", "c"} {
		n := byte('1' + i)
		gws[name] = startGateway(t, l, name, "198.51.100."+string(n))
		hosts[name] = gws[name].site.AddHost(t, name+"1", "02:0"+name+":00:00:00:01", "192.0.2.1"+string(n), 0, "")
	}
	pairType := map[string]string{"ab": "vxlan", "ba": "vxlan", "bc": "gre", "cb": "gre", "ac": "geneve", "ca": "geneve"}
	for name, g := range gws {
		g.must(t, "POST", "/v1/networks", object{"name": "plane", "attachments": attach(name + "1")}, 201)
		for peer, p := range gws {
			if peer == name {
				continue
			}
			g.must(t, "POST", "/v1/remote-gateways", object{"name": "site-" + peer, "tunnel_ip": p.site.TunnelIP}, 201)
			g.must(t, "POST", "/v1/connections", object{"name": "plane-" + peer, "network": "plane",
				"remote_gateway": "site-" + peer, "segmentation_id": 5001, "network_type": pairType[name+peer]}, 201)
		}
	}
	return gws, hosts
}

// TestBroadcastReachesEverySiteOnceAndUnknownTunnelsAreDropped: a broadcast
// is replicated by its own gateway to every other site and never forwarded
// from one tunnel into another (each site sees it once, no loop); and a
// gateway admits tunnel traffic only from a configured (gateway, VNI) pair.
func TestBroadcastReachesEverySiteOnceAndUnknownTunnelsAreDropped(t *testing.T) {
	gws, hosts := meshOfThree(t, "l2m3-")
	pingOK(t, hosts["a"], "192.0.2.12", 2)
	pingOK(t, hosts["a"], "192.0.2.13", 2)

	var captured string
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		captured, _ = hosts["c"].Exec(t, "timeout", "4", "tcpdump", "-l", "-nn", "-i", lab.HostIf, "arp", "and", "host", "192.0.2.77")
	}()
	time.Sleep(time.Second)
	hosts["a"].Arping(t, "192.0.2.77", 3) // nobody has it: three broadcasts
	wg.Wait()
	if n := strings.Count(captured, "Request who-has 192.0.2.77"); n != 3 {
		t.Fatalf("site c saw %d copies of 3 broadcasts from site a, want 3:\n%s", n, captured)
	}

	// Site a forgets site c: c still sends to a, and a drops it.
	gws["a"].must(t, "DELETE", "/v1/connections/plane-c", nil, 204)
	if _, got := hosts["c"].Ping(t, "192.0.2.11", 3, 100*time.Millisecond); got != 0 {
		t.Fatalf("site a admitted %d packets from a gateway it has no connection with", got)
	}
	pingOK(t, hosts["c"], "192.0.2.12", 2)
}
