package flows

// Registers the pipeline uses, declared once.
const (
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

// Learned entries' timing and priorities.
const (
	// DefaultLearnIdleTimeout is how long (seconds) a learned MAC lives
	// without traffic.
	DefaultLearnIdleTimeout = 300
	// PriorityStatic is the priority of static bindings in TableL2Lookup:
	// above PriorityLearned, so a static binding always wins.
	PriorityStatic = 200
	// PriorityLearned is the priority of learned entries in TableL2Lookup.
	PriorityLearned = 100
)
