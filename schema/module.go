package schema

import (
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/zclconf/go-cty/cty"
)

// module loads the directory a module block names and returns its blocks,
// each paired with an evaluator whose variables are the module's inputs.
// Modules declare only variables, users, roles and checks; they do not nest.
func (b *builder) module(parent *evaluator, m *moduleSpec) ([]userIn, []roleIn, []checkIn) {
	if m.Source == nil {
		b.errorf(m.DefRange.Ptr(), "Missing module source",
			"A module block needs source = \"./modules/<name>\": a directory relative to this file.")
		return nil, nil, nil
	}
	src, marks := parent.strMarked(m.Source, "")
	if src == "" {
		return nil, nil, nil
	}
	if sensitive(marks) || !(strings.HasPrefix(src, "./") || strings.HasPrefix(src, "../")) {
		b.errorf(m.Source.Expr.Range().Ptr(), "Invalid module source",
			"source must be a local directory starting with ./ or ../ (relative to this file), e.g. \"./modules/mmm-users\".")
		return nil, nil, nil
	}
	dir := filepath.Join(filepath.Dir(m.DefRange.Filename), src)
	names, err := hclFiles(dir)
	if err != nil || len(names) == 0 {
		why := "it has no .hcl files"
		if err != nil {
			why = err.Error()
		}
		b.errorf(m.Source.Expr.Range().Ptr(), "Cannot read module",
			"Module %q: %s. source is relative to the directory of %s.", m.Name, why, filepath.Base(m.DefRange.Filename))
		return nil, nil, nil
	}
	var files []*hcl.File
	var diags hcl.Diagnostics
	for _, n := range names {
		f, d := b.l.parser.ParseHCLFile(n)
		diags = append(diags, d...)
		if f != nil {
			files = append(files, f)
		}
	}
	diags = append(diags, hugeLiterals(files)...)
	b.add(diags...)
	if diags.HasErrors() {
		return nil, nil, nil
	}
	var spec moduleRootSpec
	b.add(gohcl.DecodeBody(hcl.MergeFiles(files), nil, &spec)...)

	attrs, d := m.Inputs.JustAttributes()
	b.add(d...)
	declared := map[string]*variableSpec{}
	for _, v := range spec.Variables {
		declared[v.Name] = v
	}
	inputs := map[string]cty.Value{}
	names = names[:0]
	for name := range attrs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		a := attrs[name]
		if declared[name] == nil {
			b.errorf(a.NameRange.Ptr(), "Unsupported module input",
				"Module %q (%s) has no variable %q; its inputs are: %s.", m.Name, src, name, variableNames(spec.Variables))
			continue
		}
		// the value keeps its marks: a secret stays a secret inside the module
		v, d := a.Expr.Value(parent.ctx(a.Range.Filename))
		b.add(d...)
		if !d.HasErrors() {
			inputs[name] = v
		}
	}
	for _, v := range spec.Variables {
		if _, given := attrs[v.Name]; !given && v.Default == nil {
			// unknown without an unset mark: no second warning where it is used
			inputs[v.Name] = cty.UnknownVal(cty.DynamicPseudoType)
			b.errorf(m.DefRange.Ptr(), "Missing module input",
				"Module %q (%s) needs %s = … in this block: variable %q has no default.", m.Name, src, v.Name, v.Name)
		}
	}
	vars := b.l.variableValues(spec.Variables, inputs, false, b.diags)
	e := newEvaluator(b.l, vars, b.diags)
	var users []userIn
	var roles []roleIn
	var checks []checkIn
	for _, u := range spec.Users {
		users = append(users, userIn{e, u})
	}
	for _, r := range spec.Roles {
		roles = append(roles, roleIn{e, r})
	}
	for _, c := range spec.Checks {
		checks = append(checks, checkIn{e, c})
	}
	return users, roles, checks
}

func variableNames(vs []*variableSpec) string {
	if len(vs) == 0 {
		return "none"
	}
	var out []string
	for _, v := range vs {
		out = append(out, v.Name)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}
