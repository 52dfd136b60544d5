package importer

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// The MySQL-MMM 2 configuration format, as MMM::Common::Config reads it:
//
//	# a comment (only at the start of a line)
//	include mmm_common.conf
//	name value                 a variable; some take "a, b, c"
//	<monitor> … </monitor>     a unique section
//	<host db1> … </host>       a named section; <host default> gives every
//	                           other host section its values
//	<check mysql/>             an empty section
//
// A later value of the same variable in the same section replaces the
// earlier one; sections of the same type and name merge, also across files.

// pos is where a value came from.
type pos struct {
	File string
	Line int
}

// confValue is one variable's value and where it was set.
type confValue struct {
	Value string
	Pos   pos
}

// section is a unique or named section (Name "" for unique ones).
type section struct {
	Type, Name string
	Pos        pos // of its first opening tag
	Vars       map[string]confValue
	Order      []string // variable names in first-set order
}

func (s *section) set(name string, v confValue) {
	if _, ok := s.Vars[name]; !ok {
		s.Order = append(s.Order, name)
	}
	s.Vars[name] = v
}

// mmmConfig is everything read from a set of MMM files.
type mmmConfig struct {
	Globals *section // the variables outside sections
	// Sections in first-seen order; named sections are keyed "type name".
	Sections []*section
	byKey    map[string]*section
	// Files read, in order (includes once each).
	Files []string
	// dirs to look for included files in, after the including file's own.
	searchDirs []string
	read       map[string]bool
	findings   Findings
}

func newMMMConfig(searchDirs []string) *mmmConfig {
	return &mmmConfig{
		Globals:    &section{Vars: map[string]confValue{}},
		byKey:      map[string]*section{},
		searchDirs: searchDirs,
		read:       map[string]bool{},
	}
}

// named returns the named sections of a type, in order.
func (c *mmmConfig) named(typ string) []*section {
	var out []*section
	for _, s := range c.Sections {
		if s.Type == typ && s.Name != "" {
			out = append(out, s)
		}
	}
	return out
}

// unique returns the unique section of a type, or nil.
func (c *mmmConfig) unique(typ string) *section { return c.byKey[typ] }

// get returns the named section typ name, or nil.
func (c *mmmConfig) get(typ, name string) *section { return c.byKey[typ+" "+name] }

func (c *mmmConfig) section(typ, name string, at pos) *section {
	key := typ
	if name != "" {
		key += " " + name
	}
	if s := c.byKey[key]; s != nil {
		return s
	}
	s := &section{Type: typ, Name: name, Pos: at, Vars: map[string]confValue{}}
	c.byKey[key] = s
	c.Sections = append(c.Sections, s)
	return s
}

func (c *mmmConfig) problem(at pos, key, format string, args ...any) {
	c.findings = append(c.findings, Finding{File: at.File, Line: at.Line, Key: key, Severity: Problem, Message: fmt.Sprintf(format, args...)})
}

var (
	reEnd        = regexp.MustCompile(`^\s*</\s*(\w+)\s*>\s*$`)
	reInclude    = regexp.MustCompile(`^\s*include\s+(\S+)\s*$`)
	reUnique     = regexp.MustCompile(`^\s*<\s*(\w+)\s*(/?)>\s*$`)
	reNamed      = regexp.MustCompile(`^\s*<\s*(\w+)\s+([\w\-]+)\s*(/?)>\s*$`)
	reVariable   = regexp.MustCompile(`^\s*(\S+)\s+(.*)$`)
	reBlank      = regexp.MustCompile(`^\s*(#.*)?$`)
	sectionTypes = map[string]bool{"host": true, "role": true, "check": true, "monitor": true, "socket": true, "copy_method": true}
	namedTypes   = map[string]bool{"host": true, "role": true, "check": true, "copy_method": true}
)

// readFile reads one file (and what it includes). name is shown in findings
// relative to the directory the import started from.
func (c *mmmConfig) readFile(path string) {
	abs, err := filepath.Abs(path)
	if err == nil && c.read[abs] {
		return // mmm_agent.conf and mmm_mon.conf both include mmm_common.conf
	}
	c.read[abs] = true
	f, err := os.Open(path)
	if err != nil {
		c.problem(pos{File: path}, "", "cannot read the file: %v", err)
		return
	}
	defer f.Close()
	c.Files = append(c.Files, path)
	display := c.display(path)

	sc := bufio.NewScanner(f)
	var cur *section // nil: top level
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimRight(sc.Text(), "\r")
		at := pos{File: display, Line: line}
		if reBlank.MatchString(text) {
			continue
		}
		if m := reEnd.FindStringSubmatch(text); m != nil {
			if cur == nil || cur.Type != m[1] {
				c.problem(at, "</"+m[1]+">", "closes a section that is not open")
			}
			cur = nil
			continue
		}
		if m := reInclude.FindStringSubmatch(text); m != nil {
			c.include(filepath.Dir(path), m[1], at)
			continue
		}
		if m := reUnique.FindStringSubmatch(text); m != nil {
			c.open(&cur, m[1], "", m[2] == "/", at)
			continue
		}
		if m := reNamed.FindStringSubmatch(text); m != nil {
			c.open(&cur, m[1], m[2], m[3] == "/", at)
			continue
		}
		if m := reVariable.FindStringSubmatch(text); m != nil {
			v := confValue{Value: strings.TrimSpace(m[2]), Pos: at}
			if cur == nil {
				c.Globals.set(m[1], v)
			} else {
				cur.set(m[1], v)
			}
			continue
		}
		// a variable without a value: MMM refuses the line
		c.problem(at, strings.TrimSpace(text), "invalid line (a variable needs a value)")
	}
	if err := sc.Err(); err != nil {
		c.problem(pos{File: display}, "", "reading the file: %v", err)
	}
	if cur != nil {
		c.problem(cur.Pos, "<"+cur.Type+">", "section is never closed")
	}
}

func (c *mmmConfig) open(cur **section, typ, name string, empty bool, at pos) {
	tag := "<" + typ + ">"
	if name != "" {
		tag = "<" + typ + " " + name + ">"
	}
	switch {
	case *cur != nil:
		c.problem(at, tag, "a section inside section <%s>; close that one first", (*cur).Type)
		return
	case !sectionTypes[typ]:
		c.problem(at, tag, "unknown section type %q", typ)
		return
	case namedTypes[typ] && name == "":
		c.problem(at, tag, "section %s needs a name, e.g. <%s NAME>", typ, typ)
		return
	case !namedTypes[typ] && name != "":
		c.problem(at, tag, "section %s takes no name", typ)
		return
	}
	s := c.section(typ, name, at)
	if !empty {
		*cur = s
	}
}

// include finds an included file as MMM does (".conf" added when missing),
// in the including file's directory first, then in the search directories.
func (c *mmmConfig) include(dir, name string, at pos) {
	if !strings.HasSuffix(name, ".conf") {
		name += ".conf"
	}
	candidates := []string{name}
	if !filepath.IsAbs(name) {
		candidates = []string{filepath.Join(dir, name)}
		for _, d := range c.searchDirs {
			candidates = append(candidates, filepath.Join(d, name))
		}
	}
	for _, p := range candidates {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			c.readFile(p)
			return
		}
	}
	c.problem(at, "include", "%s not found (looked in %s)", name, strings.Join(uniqueDirs(candidates), ", "))
}

func uniqueDirs(paths []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range paths {
		d := filepath.Dir(p)
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}

// display names a file in findings: relative to the first search directory
// when it lies below it, else as given.
func (c *mmmConfig) display(path string) string {
	if len(c.searchDirs) > 0 {
		if rel, err := filepath.Rel(c.searchDirs[0], path); err == nil && !strings.HasPrefix(rel, "..") {
			return rel
		}
	}
	return path
}

// splitList splits a multi-valued variable as MMM does: on commas with any
// space around them.
func splitList(v string) []string {
	var out []string
	for _, p := range regexp.MustCompile(`\s*,\s*`).Split(strings.TrimSpace(v), -1) {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}
