package plan

// Fingerprint records the parts of the live state a plan depends on, so that
// `mmm apply FILE` can refuse a plan made against a cluster that has moved since,
// and say what moved. (Filled in by Diff; compared by Stale.)
type Fingerprint struct {
	Writer string                     `json:"writer"`
	Hosts  map[string]HostFingerprint `json:"hosts"`
}

// HostFingerprint is one host's part of a Fingerprint.
type HostFingerprint struct {
	Reachable bool   `json:"reachable"`
	ReadOnly  bool   `json:"read_only"`
	Source    string `json:"source,omitempty"` // host name (or address) it replicates from
	GTID      string `json:"gtid,omitempty"`
}
