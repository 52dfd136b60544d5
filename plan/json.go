package plan

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// The JSON form of a plan serves both `mmm plan --json` and saved plan files
// (`mmm plan --out FILE`); docs/plan-json.md documents it. It is the Plan
// struct as tagged, plus a "changes" summary. Secrets cannot reach it:
// Statement marshals its redacted Text only.

type jsonPlan struct {
	*Plan
	Changes jsonChanges `json:"changes"`
}

type jsonChanges struct {
	Summary
	Total int `json:"total"`
}

// WriteJSON writes the plan as indented JSON.
func WriteJSON(w io.Writer, p *Plan) error {
	out := jsonPlan{Plan: p, Changes: jsonChanges{Summary: p.Summary(), Total: p.Changes()}}
	if out.Steps == nil {
		cp := *p
		cp.Steps = []Step{}
		out.Plan = &cp
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // "a -> b", not "a -\u003e b"
	return enc.Encode(out)
}

// Save writes p as a plan file. The file holds no secret: statements that
// need one say <redacted>, and apply takes them from a fresh Diff (see
// Statement.NeedsSecret) after the fingerprint check.
func Save(w io.Writer, p *Plan) error { return WriteJSON(w, p) }

// ErrFormatVersion: the file was written by an mmm with another plan format.
var ErrFormatVersion = errors.New("unsupported plan format version")

// Load reads a plan file written by Save.
func Load(r io.Reader) (*Plan, error) {
	var p Plan
	dec := json.NewDecoder(r)
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("not a plan saved by `mmm plan --out FILE` (%w)", err)
	}
	if p.FormatVersion != FormatVersion {
		return nil, fmt.Errorf("%w %d (this mmm reads %d): plan again", ErrFormatVersion, p.FormatVersion, FormatVersion)
	}
	if p.Steps == nil {
		p.Steps = []Step{}
	}
	return &p, nil
}
