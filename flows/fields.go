package flows

// Registers the pipeline uses, declared once.
const (
	// RegRemoteSource (reg2) is 1, from TableSourceLookup to TableLearn,
	// when the packet's source MAC is a remote MAC a dynamic origin told
	// (see Binding): TableLearn does not learn such a source from a
	// tunnel.
	RegRemoteSource = 2
	// RegSourceConn (reg3) holds, from TableSourceLookup to TableLearn,
	// the connection whose static binding the packet's source MAC is: 0
	// when the source is not statically bound in the packet's network.
	RegSourceConn = 3
	// RegIngressConn (reg4) holds the connection that admitted a packet
	// from a tunnel, loaded by TableClassifier; 0 for local packets.
	RegIngressConn = 4
	// RegFlags (reg5) bit 0 is set when the packet entered from a tunnel.
	RegFlags = 5
	// RegNetwork (reg6) holds the network ID of the packet, loaded by
	// TableClassifier.
	RegNetwork = 6
	// RegOutPort (reg7) holds the output ofport chosen by TableL2Lookup;
	// 0 means unknown (flood).
	RegOutPort = 7
)

// FlagFromTunnel is RegFlags' value for packets that entered from a tunnel.
const FlagFromTunnel = 1

// Learned entries' timing, number and priorities.
const (
	// DefaultLearnIdleTimeout is how long (seconds) a learned MAC lives
	// without traffic.
	DefaultLearnIdleTimeout = 300
	// DefaultLearnLimit is how many MACs one connection's gateway may
	// have learned in its network at once. A remote segment the size of a
	// /20 (4,094 hosts) fits; past the limit new MACs are not learned and
	// traffic to them is flooded until entries idle out. What a flood of
	// made-up MACs can cost stays bounded: 4,096 MACs learned from one
	// gateway grew ovs-vswitchd (OVS 3.1, userspace datapath) by about
	// 21 MiB, learned flows and their datapath flows together, so some
	// 5 KiB a MAC. VMware NSX's MAC learning limit has the same default.
	DefaultLearnLimit = 4096
	// PriorityStatic is the priority of static bindings in TableL2Lookup:
	// above PriorityLearned, so a static binding always wins.
	PriorityStatic = 200
	// PriorityLearned is the priority of learned entries in TableL2Lookup.
	PriorityLearned = 100
	// PriorityRemoteSource is the priority in TableLearn of the pass for
	// dynamic origins' remote MACs arriving from tunnels: above the
	// connections' learning flows (100).
	PriorityRemoteSource = 110
)
