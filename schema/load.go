package schema

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/mysql-mmm/mmm/internal/topology"
)

// Options control how a topology is loaded.
type Options struct {
	// Vars are --var NAME=VALUE settings; they win over MMM_VAR_NAME.
	Vars map[string]string
	// LookupEnv reads the environment (env() and MMM_VAR_*); nil = os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// RequireSecrets turns an unset env()/file()/variable used for a secret into
	// an error. validate leaves it false (CI has no secrets): then it is a warning.
	RequireSecrets bool
	// Secrets, when not nil, lists the only secrets the command needs, by
	// kind (SecretAdmin, SecretAgentToken, SecretMonitorToken,
	// SecretPassword): an unset env()/file()/variable behind any other
	// secret is left unset without a diagnostic, and RequireSecrets applies
	// to these alone. nil: every secret.
	Secrets []string
	// Host, when set, is the one host the command serves (mmm agent --host):
	// the other hosts' admin passwords count as SecretOtherAdmin, which a
	// command that lists its Secrets does not need.
	Host string
	// Purpose says why the command needs its secrets, for the error about a
	// missing one ("mmm show asks the running watch"); default "to connect".
	Purpose string
	// Advise adds validate's advice about the deployment, not the file's
	// correctness: a cluster on the network without a tls block.
	Advise bool
}

// Loader loads topology files and renders diagnostics against their source.
// A Loader is not safe for concurrent use.
type Loader struct {
	opts   Options
	parser *hclparse.Parser
	// secrets are values that must never be printed: they are replaced in
	// diagnostic summaries and details.
	secrets map[string]bool
	// masks are source ranges holding literal secrets; snippets show them as ***.
	masks []hcl.Range
}

// NewLoader returns a Loader.
func NewLoader(opts Options) *Loader {
	return &Loader{opts: opts, parser: hclparse.NewParser(), secrets: map[string]bool{}}
}

// Load reads a file or a directory of .hcl files (merged, like Terraform) and
// returns the desired cluster. The cluster is nil when diags has errors.
func (l *Loader) Load(path string) (*topology.Cluster, hcl.Diagnostics) {
	files, diags := l.parsePath(path)
	if diags.HasErrors() {
		return nil, l.scrub(diags)
	}
	c, more := l.loadFiles(files)
	diags = append(diags, more...)
	if diags.HasErrors() {
		c = nil
	}
	return c, l.scrub(diags)
}

// loadSource loads one file's content as if read from filename (fuzzing, tests).
func (l *Loader) loadSource(filename string, src []byte) (*topology.Cluster, hcl.Diagnostics) {
	f, diags := l.parser.ParseHCL(src, filename)
	if diags.HasErrors() {
		return nil, l.scrub(diags)
	}
	c, more := l.loadFiles([]*hcl.File{f})
	diags = append(diags, more...)
	if diags.HasErrors() {
		c = nil
	}
	return c, l.scrub(diags)
}

// hclFiles lists the .hcl files of dir, sorted, so merges are deterministic.
func hclFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".hcl") && !strings.HasPrefix(e.Name(), ".") {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(out)
	return out, nil
}

func (l *Loader) parsePath(path string) ([]*hcl.File, hcl.Diagnostics) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Cannot read the topology",
			Detail:   fmt.Sprintf("%v. Point --config (or MMM_CONFIG) at a topology file or a directory of .hcl files.", err),
		}}
	}
	names := []string{path}
	if st.IsDir() {
		names, err = hclFiles(path)
		if err != nil {
			return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot read the topology", Detail: err.Error() + "."}}
		}
		if len(names) == 0 {
			return nil, hcl.Diagnostics{{
				Severity: hcl.DiagError,
				Summary:  "No topology files",
				Detail:   fmt.Sprintf("The directory %s has no .hcl files. Point --config (or MMM_CONFIG) at a topology file or a directory of .hcl files.", path),
			}}
		}
	}
	var files []*hcl.File
	var diags hcl.Diagnostics
	for _, n := range names {
		f, d := l.parser.ParseHCLFile(n)
		diags = append(diags, d...)
		if f != nil {
			files = append(files, f)
		}
	}
	return files, diags
}

// loadFiles decodes the merged files and converts them.
func (l *Loader) loadFiles(files []*hcl.File) (*topology.Cluster, hcl.Diagnostics) {
	if diags := hugeLiterals(files); diags.HasErrors() {
		return nil, diags
	}
	var diags hcl.Diagnostics
	var root rootSpec
	diags = append(diags, gohcl.DecodeBody(hcl.MergeFiles(files), nil, &root)...)
	for _, h := range root.Hosts {
		diags = append(diags, gohcl.DecodeBody(h.Body, nil, &h.attrs)...)
	}
	for _, d := range root.Defaults {
		diags = append(diags, gohcl.DecodeBody(d.Body, nil, &d.attrs)...)
	}
	b := &builder{l: l, diags: &diags, src: map[string]hcl.Range{}}
	c := b.build(&root)
	diags = dedupe(diags)
	sortDiagnostics(diags)
	return c, diags
}

// sortDiagnostics orders diags by file and position, so output follows the
// source and is the same on every run (map iteration is random).
func sortDiagnostics(diags hcl.Diagnostics) {
	sort.SliceStable(diags, func(i, j int) bool {
		a, b := diags[i].Subject, diags[j].Subject
		switch {
		case a == nil || b == nil:
			return a == nil && b != nil
		case a.Filename != b.Filename:
			return a.Filename < b.Filename
		}
		return a.Start.Byte < b.Start.Byte
	})
}

// hugeLiterals reports number literals such as 1e100000000 before anything
// evaluates them: hcl and cty print numbers digit by digit when they turn
// them into strings (in templates, format(), conversions), which for such a
// literal never ends.
func hugeLiterals(files []*hcl.File) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, f := range files {
		body, ok := f.Body.(*hclsyntax.Body)
		if !ok {
			continue
		}
		hclsyntax.VisitAll(body, func(n hclsyntax.Node) hcl.Diagnostics {
			if lit, ok := n.(*hclsyntax.LiteralValueExpr); ok && hugeNumber(lit.Val) {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Number out of range",
					Detail:   "This number is too large (or too small) to mean anything in a topology.",
					Subject:  lit.SrcRange.Ptr(),
				})
			}
			return nil
		})
	}
	return diags
}

// dedupe drops repeated diagnostics: an attribute of the defaults block is
// evaluated once per host, but a mistake in it is reported once.
func dedupe(diags hcl.Diagnostics) hcl.Diagnostics {
	seen := map[string]bool{}
	out := diags[:0:0]
	for _, d := range diags {
		k := fmt.Sprintf("%d|%s|%s|%v", d.Severity, d.Summary, d.Detail, d.Subject)
		if !seen[k] {
			seen[k] = true
			out = append(out, d)
		}
	}
	return out
}

// variableValues gives each declared variable its value: --var, then
// MMM_VAR_<name>, then the default; a variable without any is unknown and
// marked unset. inputs (module blocks) replace --var and the environment.
func (l *Loader) variableValues(specs []*variableSpec, inputs map[string]cty.Value, fromCLI bool, diags *hcl.Diagnostics) map[string]cty.Value {
	vars := map[string]cty.Value{}
	seen := map[string]*variableSpec{}
	// defaults may call functions but not refer to other variables
	e := newEvaluator(l, nil, diags)
	for _, s := range specs {
		if prev, dup := seen[s.Name]; dup {
			*diags = append(*diags, duplicateDiag("variable", s.Name, s.DefRange, prev.DefRange))
			continue
		}
		seen[s.Name] = s
		isSensitive := e.boolean(s.Sensitive, false)
		_ = e.str(s.Description, "")
		desc := "var." + s.Name
		marks := cty.NewValueMarks(sourceMark{desc})
		if isSensitive {
			marks = cty.NewValueMarks(sourceMark{desc}, sensitiveMark{})
		}
		var v cty.Value
		var set bool
		if inputs != nil {
			v, set = inputs[s.Name]
		} else if fromCLI {
			if given, ok := l.opts.Vars[s.Name]; ok {
				v, set = cty.StringVal(given), true
			} else if given, ok := l.lookupEnv("MMM_VAR_" + s.Name); ok {
				v, set = cty.StringVal(given), true
			}
			if set && isSensitive {
				l.rememberSecret(v.AsString())
			}
		}
		if !set && s.Default != nil {
			raw, d := s.Default.Expr.Value(e.ctx(s.Default.Range.Filename))
			*diags = append(*diags, d...)
			if !d.HasErrors() {
				v, set = raw, true
				if isSensitive {
					// a literal default of a sensitive variable stays out of snippets
					l.maskRange(s.Default.Expr.Range())
					if u, _ := raw.UnmarkDeep(); u.Type() == cty.String && u.IsKnown() && !u.IsNull() {
						l.rememberSecret(u.AsString())
					}
				}
			}
		}
		if !set {
			how := "--var " + s.Name + "=VALUE or MMM_VAR_" + s.Name
			if inputs != nil {
				how = "an input " + s.Name + " = … in the module block"
			}
			v = cty.UnknownVal(cty.DynamicPseudoType).WithMarks(cty.NewValueMarks(
				unsetMark{desc, "the variable " + s.Name + " has no value", "set it with " + how + ", or give it a default"}))
		}
		vars[s.Name] = v.WithMarks(marks)
	}
	if fromCLI {
		var unknown []string
		for name := range l.opts.Vars {
			if _, ok := seen[name]; !ok {
				unknown = append(unknown, name)
			}
		}
		sort.Strings(unknown)
		for _, name := range unknown {
			*diags = append(*diags, &hcl.Diagnostic{
				Severity: hcl.DiagWarning,
				Summary:  "Value for undeclared variable",
				Detail:   fmt.Sprintf("--var %s was given, but no variable %q block declares it; the value is ignored.", name, name),
			})
		}
	}
	return vars
}

func duplicateDiag(kind, name string, at, prev hcl.Range) *hcl.Diagnostic {
	what := kind
	if name != "" {
		what = fmt.Sprintf("%s %q", kind, name)
	}
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Duplicate " + what,
		Detail:   fmt.Sprintf("%s is already declared at %s. Remove one of them or give it another name.", capitalize(what), prev),
		Subject:  at.Ptr(),
	}
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func (l *Loader) rememberSecret(s string) {
	// Very short values would turn ordinary words into <redacted>; they are
	// not secrets anyone relies on (validate warns about empty passwords).
	if len(s) >= 4 {
		l.secrets[s] = true
	}
}

func (l *Loader) maskRange(r hcl.Range) { l.masks = append(l.masks, r) }

// scrub removes every known secret from the diagnostics' texts and drops the
// evaluation context hcl keeps for "with var.x as …" notes.
func (l *Loader) scrub(diags hcl.Diagnostics) hcl.Diagnostics {
	if len(diags) == 0 {
		return diags
	}
	secrets := make([]string, 0, len(l.secrets))
	for s := range l.secrets {
		secrets = append(secrets, s)
	}
	// longest first, so a secret containing another is replaced whole
	sort.Slice(secrets, func(i, j int) bool { return len(secrets[i]) > len(secrets[j]) })
	out := make(hcl.Diagnostics, 0, len(diags))
	for _, d := range diags {
		c := *d
		for _, s := range secrets {
			c.Summary = strings.ReplaceAll(c.Summary, s, topology.Redacted)
			c.Detail = strings.ReplaceAll(c.Detail, s, topology.Redacted)
		}
		c.Expression, c.EvalContext = nil, nil
		out = append(out, &c)
	}
	return out
}

// maskedFiles are the parsed files with literal secrets overwritten by '*' of
// the same length, so snippets keep their columns and lose the secret.
func (l *Loader) maskedFiles() map[string]*hcl.File {
	files := map[string]*hcl.File{}
	for name, f := range l.parser.Files() {
		files[name] = f
	}
	copied := map[string]bool{}
	for _, r := range l.masks {
		f := files[r.Filename]
		if f == nil || r.Start.Byte < 0 || r.End.Byte > len(f.Bytes) || r.Start.Byte >= r.End.Byte {
			continue
		}
		if !copied[r.Filename] {
			f = &hcl.File{Body: f.Body, Bytes: bytes.Clone(f.Bytes), Nav: f.Nav}
			files[r.Filename] = f
			copied[r.Filename] = true
		}
		for i := r.Start.Byte; i < r.End.Byte; i++ {
			if c := f.Bytes[i]; c != '"' && c != '\n' {
				f.Bytes[i] = '*'
			}
		}
	}
	return files
}

// WriteDiagnostics renders diags with file:line:col and a source snippet.
func (l *Loader) WriteDiagnostics(w io.Writer, diags hcl.Diagnostics) error {
	wr := hcl.NewDiagnosticTextWriter(w, l.maskedFiles(), 100, false)
	return wr.WriteDiagnostics(l.scrub(diags))
}

// JSONPos is a position in a file, as printed by validate --json.
type JSONPos struct {
	Line   int `json:"line"`
	Column int `json:"column"`
	Byte   int `json:"byte"`
}

// JSONDiagnostic is one diagnostic as printed by validate --json. The field
// set is stable: CI annotations parse it.
type JSONDiagnostic struct {
	Severity string  `json:"severity"` // "error" | "warning"
	Summary  string  `json:"summary"`
	Detail   string  `json:"detail"`
	Filename string  `json:"filename"`
	Start    JSONPos `json:"start"`
	End      JSONPos `json:"end"`
}

// JSONDiagnostics converts diags (secrets scrubbed) for JSON output; never nil.
func (l *Loader) JSONDiagnostics(diags hcl.Diagnostics) []JSONDiagnostic {
	out := []JSONDiagnostic{}
	for _, d := range l.scrub(diags) {
		j := JSONDiagnostic{Severity: "error", Summary: d.Summary, Detail: d.Detail}
		if d.Severity == hcl.DiagWarning {
			j.Severity = "warning"
		}
		if d.Subject != nil {
			j.Filename = d.Subject.Filename
			j.Start = JSONPos{d.Subject.Start.Line, d.Subject.Start.Column, d.Subject.Start.Byte}
			j.End = JSONPos{d.Subject.End.Line, d.Subject.End.Column, d.Subject.End.Byte}
		}
		out = append(out, j)
	}
	return out
}
