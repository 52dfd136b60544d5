package importer

import (
	"fmt"
	"io"
	"sort"
	"time"
)

// File is what a generated topology file declares. Zero values are left out
// of the HCL, so the schema's defaults apply.
type File struct {
	// Header lines become comments at the top of the file.
	Header []string

	Cluster          string
	Flavor           string
	ActiveMasterRole string

	Defaults    Defaults
	Hosts       []Host
	Replication Replication
	Users       []User
	Roles       []Role
	Agent       *Agent
	Monitor     *Monitor
	Checks      []Check

	// Env lists the environment variables the file reads, in order.
	Env []EnvVar
}

// EnvVar is one environment variable the file reads with env().
type EnvVar struct {
	Name string
	// What says what to put in it ("password of 'replication'@'192.168.0.%'").
	What string
}

// Defaults is the defaults block.
type Defaults struct {
	Port      int
	Interface string
	AdminUser string
	AdminEnv  string // env var of the admin password
}

// Host is a host block.
type Host struct {
	Name      string
	Address   string
	Port      int // 0: the default
	Mode      string
	Peer      string
	ServerID  uint32
	Interface string // "": the default
	Comment   string
}

// Replication is the replication block; nil fields are left out.
type Replication struct {
	User            string
	SemiSync        bool
	SemiSyncTimeout time.Duration
	ConnectRetry    time.Duration
	Heartbeat       time.Duration
	SSL             bool
}

// User is a user block.
type User struct {
	Label       string // block label; Name is written when it differs
	Name        string
	Host        string
	PasswordEnv string // "": no password attribute
	Grants      []Grant
	Comment     string
}

// Grant is a grant block.
type Grant struct {
	On              string
	Privileges      []string
	WithGrantOption bool
}

// Role is a role block.
type Role struct {
	Name   string
	Mode   string
	Hosts  []string
	IPs    []string
	Prefer string
}

// Agent is the agent block.
type Agent struct {
	Port     int // 0: the default
	TokenEnv string
	TLSCert  string
	TLSKey   string
}

// Monitor is the monitor block; zero fields are left out.
type Monitor struct {
	Listen        string
	TokenEnv      string
	CheckPeriod   time.Duration
	TrapPeriod    time.Duration
	AutoSetOnline *time.Duration // 0 is meaningful ("never")
	FlapCount     int
	FlapDuration  time.Duration
	PingIPs       []string
}

// Check is a check block; zero fields are left out.
type Check struct {
	Name       string
	Period     time.Duration
	TrapPeriod time.Duration
	Timeout    time.Duration
	MaxBacklog int
}

// Severity of a Finding.
type Severity string

const (
	// Info: carried over differently, or a hint for the operator.
	Info Severity = "info"
	// Unconverted: the setting has no equivalent and is not in the output.
	Unconverted Severity = "not converted"
	// Problem: the input is wrong or cannot be expressed; the output may
	// not validate.
	Problem Severity = "error"
)

// Finding is one line of the import report.
type Finding struct {
	File     string // "" for findings about no line in particular
	Line     int
	Key      string // the MMM variable or section, or the live object
	Severity Severity
	Message  string
}

func (f Finding) String() string {
	at := ""
	switch {
	case f.File != "" && f.Line > 0:
		at = fmt.Sprintf("%s:%d: ", f.File, f.Line)
	case f.File != "":
		at = f.File + ": "
	}
	key := ""
	if f.Key != "" {
		key = f.Key + ": "
	}
	return fmt.Sprintf("%s%s%s (%s)", at, key, f.Message, f.Severity)
}

// Findings is the import report.
type Findings []Finding

// HasProblems reports whether any finding is a Problem.
func (fs Findings) HasProblems() bool {
	for _, f := range fs {
		if f.Severity == Problem {
			return true
		}
	}
	return false
}

// sortByPosition orders findings by file and line, the ones without a
// position last, keeping the order of equal ones.
func (fs Findings) sortByPosition() {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if (a.File == "") != (b.File == "") {
			return a.File != ""
		}
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Line < b.Line
	})
}

// Write prints the findings one per line.
func (fs Findings) Write(w io.Writer) {
	for _, f := range fs {
		fmt.Fprintln(w, f.String())
	}
}

// WriteEnv prints the variables a file reads, one per line.
func WriteEnv(w io.Writer, env []EnvVar) {
	for _, e := range env {
		fmt.Fprintf(w, "  %s  %s\n", e.Name, e.What)
	}
}

// addEnv records an env var once.
func (f *File) addEnv(name, what string) string {
	for _, e := range f.Env {
		if e.Name == name {
			return name
		}
	}
	f.Env = append(f.Env, EnvVar{Name: name, What: what})
	return name
}
