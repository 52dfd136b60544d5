package schema

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"

	"github.com/mysql-mmm/mmm/internal/topology"
)

// Values that must not be shown carry cty marks. Marks survive string
// functions (cty re-applies the marks of the arguments to the result), so
// lower(env("X")) is as sensitive as env("X").
type (
	// sensitiveMark: never print the value (env(), file(), sensitive variables).
	sensitiveMark struct{}
	// sourceMark: where a value came from, e.g. `env("MMM_ADMIN_PASSWORD")`.
	// A secret attribute whose value has no source mark was written literally.
	sourceMark struct{ desc string }
	// unsetMark: the source had no value. The value is unknown; validate warns,
	// commands that connect (Options.RequireSecrets) fail.
	unsetMark struct{ desc, why, fix string }
)

// evaluator evaluates attributes for one module instance (the root or one
// module block): its variables and, per file, functions whose relative paths
// start at that file's directory.
type evaluator struct {
	l     *Loader
	vars  map[string]cty.Value
	ctxs  map[string]*hcl.EvalContext
	diags *hcl.Diagnostics
	// quiet: an unset source is not reported (a secret the command does
	// not need, Options.Secrets).
	quiet bool
}

func newEvaluator(l *Loader, vars map[string]cty.Value, diags *hcl.Diagnostics) *evaluator {
	return &evaluator{l: l, vars: vars, ctxs: map[string]*hcl.EvalContext{}, diags: diags}
}

func (e *evaluator) add(d ...*hcl.Diagnostic) { *e.diags = append(*e.diags, d...) }

// ctx returns the evaluation context for expressions in filename.
func (e *evaluator) ctx(filename string) *hcl.EvalContext {
	if c, ok := e.ctxs[filename]; ok {
		return c
	}
	c := &hcl.EvalContext{Functions: e.l.functions(filepath.Dir(filename))}
	if e.vars != nil {
		c.Variables = map[string]cty.Value{"var": cty.ObjectVal(e.vars)}
	}
	e.ctxs[filename] = c
	return c
}

// functions are the functions a topology file may call. file() paths are
// relative to dir, the directory of the file that calls it.
func (l *Loader) functions(dir string) map[string]function.Function {
	return map[string]function.Function{
		"env":        l.envFunc(),
		"file":       l.fileFunc(dir),
		"lower":      stdlib.LowerFunc,
		"upper":      stdlib.UpperFunc,
		"trimspace":  stdlib.TrimSpaceFunc,
		"trim":       stdlib.TrimFunc,
		"trimprefix": stdlib.TrimPrefixFunc,
		"trimsuffix": stdlib.TrimSuffixFunc,
		"format":     stdlib.FormatFunc,
		"join":       stdlib.JoinFunc,
		"split":      stdlib.SplitFunc,
		"replace":    stdlib.ReplaceFunc,
		"concat":     stdlib.ConcatFunc,
		"coalesce":   stdlib.CoalesceFunc,
	}
}

func (l *Loader) lookupEnv(name string) (string, bool) {
	if l.opts.LookupEnv != nil {
		return l.opts.LookupEnv(name)
	}
	return os.LookupEnv(name)
}

func (l *Loader) envFunc() function.Function {
	return function.New(&function.Spec{
		Description: "The value of an environment variable; sensitive.",
		Params:      []function.Parameter{{Name: "name", Type: cty.String}},
		Type:        function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			name := args[0].AsString()
			desc := fmt.Sprintf("env(%q)", name)
			v, ok := l.lookupEnv(name)
			if !ok {
				return unsetValue(desc, "the environment variable "+name+" is not set",
					"export "+name+" before running a command that connects"), nil
			}
			l.rememberSecret(v)
			return cty.StringVal(v).WithMarks(cty.NewValueMarks(sensitiveMark{}, sourceMark{desc})), nil
		},
	})
}

// fileFunc reads a file relative to dir. A single trailing newline is dropped:
// secrets are usually written with `echo … > file`, and a password with a
// newline at its end is never what was meant.
func (l *Loader) fileFunc(dir string) function.Function {
	return function.New(&function.Spec{
		Description: "The content of a file (relative to the declaring file); sensitive.",
		Params:      []function.Parameter{{Name: "path", Type: cty.String}},
		Type:        function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			p := args[0].AsString()
			desc := fmt.Sprintf("file(%q)", p)
			full := p
			if !filepath.IsAbs(full) {
				full = filepath.Join(dir, p)
			}
			b, err := os.ReadFile(full)
			if err != nil {
				why := "cannot read " + full
				if errors.Is(err, fs.ErrNotExist) {
					why = full + " does not exist"
				} else if errors.Is(err, fs.ErrPermission) {
					why = full + " is not readable"
				}
				return unsetValue(desc, why, "create the file (paths are relative to the file that calls file()) before running a command that connects"), nil
			}
			s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
			l.rememberSecret(s)
			return cty.StringVal(s).WithMarks(cty.NewValueMarks(sensitiveMark{}, sourceMark{desc})), nil
		},
	})
}

func unsetValue(desc, why, fix string) cty.Value {
	return cty.UnknownVal(cty.String).WithMarks(cty.NewValueMarks(sensitiveMark{}, sourceMark{desc}, unsetMark{desc, why, fix}))
}

// value evaluates a and converts it to want. ok is false when a is absent or
// null, when it has errors (reported), or when it depends on an unset source
// (reported as a warning, or an error with Options.RequireSecrets).
func (e *evaluator) value(a *hcl.Attribute, want cty.Type) (v cty.Value, marks cty.ValueMarks, ok bool) {
	if a == nil {
		return cty.NilVal, nil, false
	}
	raw, d := a.Expr.Value(e.ctx(a.Range.Filename))
	e.add(d...)
	if d.HasErrors() {
		return cty.NilVal, nil, false
	}
	v, marks = raw.UnmarkDeep()
	if !v.IsWhollyKnown() {
		e.reportUnset(a, marks)
		return cty.NilVal, marks, false
	}
	if v.IsNull() {
		return cty.NilVal, marks, false
	}
	if hugeNumber(v) {
		e.add(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Number out of range",
			Detail:   a.Name + " holds a number too large (or too small) to mean anything here.",
			Subject:  a.Expr.Range().Ptr(),
		})
		return cty.NilVal, marks, false
	}
	conv, err := convert.Convert(v, want)
	if err != nil {
		e.add(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Incorrect attribute value type",
			Detail:   fmt.Sprintf("%s must be %s: %s.", a.Name, typeName(want), err),
			Subject:  a.Expr.Range().Ptr(),
		})
		return cty.NilVal, marks, false
	}
	return conv, marks, true
}

// hugeNumber reports whether v holds a number whose decimal form would have
// thousands of digits: converting it to a string takes forever (cty prints
// every digit), and no attribute of a topology wants one.
func hugeNumber(v cty.Value) bool {
	huge := false
	_ = cty.Walk(v, func(_ cty.Path, el cty.Value) (bool, error) {
		if el.Type() == cty.Number && el.IsKnown() && !el.IsNull() {
			if exp := el.AsBigFloat().MantExp(nil); exp > 256 || exp < -256 {
				huge = true
			}
		}
		return !huge, nil
	})
	return huge
}

func (e *evaluator) reportUnset(a *hcl.Attribute, marks cty.ValueMarks) {
	var unset []unsetMark
	for m := range marks {
		if u, ok := m.(unsetMark); ok {
			unset = append(unset, u)
		}
	}
	if len(unset) == 0 || e.quiet { // unknown for another reason, or not needed: nothing useful to say
		return
	}
	sort.Slice(unset, func(i, j int) bool { return unset[i].desc < unset[j].desc })
	for _, u := range unset {
		why := capitalize(u.why)
		sev, detail := hcl.DiagWarning, fmt.Sprintf("%s: %s has no value, so it was not checked. Commands that connect need it: %s.", why, a.Name, u.fix)
		if e.l.opts.RequireSecrets {
			purpose := e.l.opts.Purpose
			if purpose == "" {
				purpose = "to connect"
			}
			sev, detail = hcl.DiagError, fmt.Sprintf("%s: %s needs a value %s; %s.", why, a.Name, purpose, u.fix)
		}
		e.add(&hcl.Diagnostic{Severity: sev, Summary: u.desc + " has no value", Detail: detail, Subject: a.Expr.Range().Ptr()})
	}
}

func typeName(t cty.Type) string {
	switch {
	case t == cty.String:
		return "a string"
	case t == cty.Number:
		return "a number"
	case t == cty.Bool:
		return "true or false"
	case t.IsListType():
		return "a list of " + strings.TrimPrefix(typeName(t.ElementType()), "a ") + "s"
	}
	return t.FriendlyName()
}

func sensitive(marks cty.ValueMarks) bool { return marks.Has(sensitiveMark{}) }

// shown is s as a diagnostic may show it: quoted, or hidden when sensitive.
func shown(s string, marks cty.ValueMarks) string {
	if sensitive(marks) {
		return "(sensitive value)"
	}
	return fmt.Sprintf("%q", s)
}

func (e *evaluator) str(a *hcl.Attribute, def string) string {
	v, _, ok := e.value(a, cty.String)
	if !ok {
		return def
	}
	return v.AsString()
}

// strMarked is str that also says whether the value is sensitive.
func (e *evaluator) strMarked(a *hcl.Attribute, def string) (string, cty.ValueMarks) {
	v, marks, ok := e.value(a, cty.String)
	if !ok {
		return def, marks
	}
	return v.AsString(), marks
}

func (e *evaluator) boolean(a *hcl.Attribute, def bool) bool {
	v, _, ok := e.value(a, cty.Bool)
	if !ok {
		return def
	}
	return v.True()
}

// integer evaluates a whole number in [min, max].
func (e *evaluator) integer(a *hcl.Attribute, def, min, max int64) int64 {
	v, marks, ok := e.value(a, cty.Number)
	if !ok {
		return def
	}
	bf := v.AsBigFloat()
	n, acc := bf.Int64()
	if !bf.IsInt() || acc != 0 || n < min || n > max {
		e.add(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid " + a.Name,
			Detail:   fmt.Sprintf("%s must be a whole number from %d to %d, not %s.", a.Name, min, max, shownNumber(v, marks)),
			Subject:  a.Expr.Range().Ptr(),
		})
		return def
	}
	return n
}

func shownNumber(v cty.Value, marks cty.ValueMarks) string {
	if sensitive(marks) {
		return "(sensitive value)"
	}
	bf := v.AsBigFloat()
	// Text would print every decimal digit of 1e100000000: a hang, not a message.
	if exp := bf.MantExp(nil); exp > 64 || exp < -64 {
		return "a number far out of range"
	}
	return bf.Text('g', 20)
}

// duration evaluates a Go duration string ("250ms", "1s", "2m"); zero is
// allowed only when allowZero.
func (e *evaluator) duration(a *hcl.Attribute, def time.Duration, allowZero bool) time.Duration {
	v, marks, ok := e.value(a, cty.String)
	if !ok {
		return def
	}
	s := v.AsString()
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		e.add(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid duration",
			Detail:   fmt.Sprintf("%s = %s is not a duration: write a number with a unit, e.g. \"250ms\", \"1s\", \"2m\", \"1h\".", a.Name, shown(s, marks)),
			Subject:  a.Expr.Range().Ptr(),
		})
		return def
	case d < 0 || d == 0 && !allowZero:
		e.add(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid duration",
			Detail:   fmt.Sprintf("%s must be longer than zero, e.g. \"1s\".", a.Name),
			Subject:  a.Expr.Range().Ptr(),
		})
		return def
	}
	return d
}

func (e *evaluator) strList(a *hcl.Attribute) ([]string, cty.ValueMarks) {
	v, marks, ok := e.value(a, cty.List(cty.String))
	if !ok {
		return nil, marks
	}
	var out []string
	for _, el := range v.AsValueSlice() {
		if el.IsNull() {
			e.add(&hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Null in list", Detail: a.Name + " must not contain null.", Subject: a.Expr.Range().Ptr()})
			continue
		}
		out = append(out, el.AsString())
	}
	return out, marks
}

// secret evaluates a password or token. A value written literally in the
// file is accepted with a warning: anyone who can read the file can read it.
func (e *evaluator) secret(a *hcl.Attribute, what string) topology.Secret {
	if a == nil {
		return topology.Secret{}
	}
	if need := e.l.opts.Secrets; (need != nil || what == SecretCloneToken) && !slices.Contains(need, what) {
		e.quiet = true
		defer func() { e.quiet = false }()
	}
	v, marks, ok := e.value(a, cty.String)
	src := sources(marks)
	if !ok {
		if src != "" {
			return topology.UnsetSecret(src)
		}
		return topology.Secret{}
	}
	s := v.AsString()
	e.l.rememberSecret(s)
	if src == "" {
		e.l.maskRange(a.Expr.Range())
		e.add(&hcl.Diagnostic{
			Severity: hcl.DiagWarning,
			Summary:  "Secret written in the file",
			Detail: fmt.Sprintf("The %s is a literal, so anyone who can read this file can read it. "+
				"Take it from the environment with env(\"NAME\"), from a file with file(\"path\"), "+
				"or from a variable with sensitive = true set by --var or MMM_VAR_<name>.", what),
			Subject: a.Expr.Range().Ptr(),
		})
		return topology.NewSecret(s, "literal")
	}
	return topology.NewSecret(s, src)
}

func sources(marks cty.ValueMarks) string {
	var out []string
	for m := range marks {
		if s, ok := m.(sourceMark); ok {
			out = append(out, s.desc)
		}
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// ipv4 checks that s is a dotted IPv4 address.
func ipv4(s string) bool {
	ip := net.ParseIP(s)
	return ip != nil && ip.To4() != nil && strings.Count(s, ".") == 3
}
