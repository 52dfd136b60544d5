package ui

import (
	"fmt"
	"html"
	"io"
	"math"
	"sort"
	"strings"
)

// The drawing: the masters side by side on the top row, every other host
// under the host it replicates from (a slave whose replication is unknown
// sits under the writer, where MMM puts it), replication arrows labelled
// with lag, boxes coloured by MMM state with the VIPs they hold. One layout
// serves the page (SVG), `mmm show --format svg` (the same SVG) and
// `mmm show --format dot` (Graphviz places the nodes itself, from the same
// tree and labels).

// Sizes of the drawing, in SVG user units.
const (
	boxW      = 210
	boxH      = 104
	colGap    = 40  // between siblings
	masterGap = 190 // between masters: room for the two labelled arrows
	rowGap    = 80  // between rows: room for the arrow's label
	margin    = 20
	topBand   = 34 // the monitor's line above the masters
)

// StateColor is the colour of each MMM state (stroke; fill is a tint).
var StateColor = map[string][2]string{
	"ONLINE":            {"#2e7d32", "#e8f5e9"},
	"ADMIN_OFFLINE":     {"#616161", "#f0f0f0"},
	"HARD_OFFLINE":      {"#c62828", "#fdecea"},
	"AWAITING_RECOVERY": {"#6a1b9a", "#f3e5f5"},
	"REPLICATION_DELAY": {"#b26a00", "#fff8e1"},
	"REPLICATION_FAIL":  {"#d84315", "#fbe9e7"},
	"UNKNOWN":           {"#455a64", "#eceff1"},
}

func stateColor(s string) (stroke, fill string) {
	c, ok := StateColor[s]
	if !ok {
		c = StateColor["UNKNOWN"]
	}
	return c[0], c[1]
}

// Box is where a host is drawn.
type Box struct {
	X, Y, W, H int
	Depth      int
}

// Layout places every host of a view.
type Layout struct {
	Width, Height int
	Boxes         map[string]Box
	// Parent is the host each host is drawn under ("" for the top row).
	Parent map[string]string
}

// parents decides under which host each host is drawn: its replication
// source when that is a host of the view (masters stay on the top row
// whatever they replicate from), else the writer for a slave.
func parents(v *View) map[string]string {
	p := map[string]string{}
	for _, h := range v.Hosts {
		if h.Mode == "master" {
			p[h.Name] = ""
			continue
		}
		src := ""
		if h.Replication != nil && v.Host(h.Replication.Source) != nil && h.Replication.Source != h.Name {
			src = h.Replication.Source
		} else if v.Writer != "" && v.Writer != h.Name && v.Host(v.Writer) != nil {
			src = v.Writer
		}
		p[h.Name] = src
	}
	// A chain of slaves that loops (a replicates from b, b from a) has no
	// top: lift its members to the top row rather than lose them.
	for _, h := range v.Hosts {
		seen := map[string]bool{h.Name: true}
		for cur := p[h.Name]; cur != ""; cur = p[cur] {
			if seen[cur] {
				p[h.Name] = ""
				break
			}
			seen[cur] = true
		}
	}
	return p
}

// LayoutOf places the hosts row by row: the top row side by side, then
// each host's children centred under it, pushed right only as far as the
// previous group on their row needs; finally everything is shifted so that
// nothing starts left of the margin. This keeps the drawing narrow (the
// masters close together whichever of them has the slaves), which matters
// on a phone.
func LayoutOf(v *View) Layout {
	par := parents(v)
	children := map[string][]string{}
	var roots []string
	for _, h := range v.Hosts { // the file's order, so boxes do not jump around
		if p := par[h.Name]; p != "" {
			children[p] = append(children[p], h.Name)
		} else {
			roots = append(roots, h.Name)
		}
	}
	// Masters first on the top row, then any host without a parent.
	sort.SliceStable(roots, func(i, j int) bool {
		return v.Host(roots[i]).Mode == "master" && v.Host(roots[j]).Mode != "master"
	})
	l := Layout{Boxes: map[string]Box{}, Parent: par}
	put := func(n string, x, depth int) {
		l.Boxes[n] = Box{X: x, Y: margin + topBand + depth*(boxH+rowGap), W: boxW, H: boxH, Depth: depth}
	}
	x := margin
	for i, r := range roots {
		if i > 0 {
			x += masterGap
		}
		put(r, x, 0)
		x += boxW
	}
	row := roots
	for depth := 1; len(row) > 0; depth++ {
		var next []string
		cursor := math.MinInt
		for _, p := range row {
			kids := children[p]
			if len(kids) == 0 {
				continue
			}
			w := len(kids)*boxW + (len(kids)-1)*colGap
			start := l.Boxes[p].X + boxW/2 - w/2
			if start < cursor {
				start = cursor
			}
			for i, c := range kids {
				put(c, start+i*(boxW+colGap), depth)
			}
			cursor = start + w + colGap
			next = append(next, kids...)
		}
		row = next
	}
	minX := margin
	for _, b := range l.Boxes {
		minX = min(minX, b.X)
	}
	for n, b := range l.Boxes {
		b.X += margin - minX
		l.Boxes[n] = b
		l.Width = max(l.Width, b.X+b.W+margin)
		l.Height = max(l.Height, b.Y+b.H+margin)
	}
	l.Width = max(l.Width, 2*margin+boxW)
	l.Height = max(l.Height, margin+topBand+boxH+margin)
	return l
}

// Edge is one replication channel to draw.
type Edge struct {
	From, To string
	Label    string
	Title    string // the whole story, for the tooltip
	Class    string // ok | lag | broken
}

// Edges lists the replication channels whose source is a host of the view.
func Edges(v *View) []Edge {
	var out []Edge
	for _, h := range v.Hosts {
		r := h.Replication
		if r == nil || v.Host(r.Source) == nil || r.Source == h.Name {
			continue
		}
		title := fmt.Sprintf("%s -> %s: IO %s, SQL %s", r.Source, h.Name, orDash(r.IO), orDash(r.SQL))
		if r.Error != "" {
			title += "\n" + r.Error
		}
		out = append(out, Edge{From: r.Source, To: h.Name, Label: EdgeLabel(r), Title: title, Class: edgeClass(r)})
	}
	return out
}

// EdgeLabel is the arrow's text: lag in seconds and in transactions, or
// what is wrong with the channel.
func EdgeLabel(r *Replication) string {
	if !r.Running() {
		s := "IO " + orDash(r.IO) + ", SQL " + orDash(r.SQL)
		if r.Error != "" {
			s += ": " + r.Error
		}
		return truncate(s, 40)
	}
	lag := "lag ?"
	if r.LagSeconds != nil {
		lag = fmt.Sprintf("lag %ds", *r.LagSeconds)
	}
	if r.Behind != nil {
		lag += fmt.Sprintf(" · %d trx", *r.Behind)
	}
	if r.SemiSync {
		lag += " · semi"
	}
	return lag
}

func edgeClass(r *Replication) string {
	switch {
	case !r.Running():
		return "broken"
	case r.LagSeconds == nil || *r.LagSeconds > 0 || (r.Behind != nil && *r.Behind > 0):
		return "lag"
	}
	return "ok"
}

var edgeColor = map[string]string{"ok": "#2e7d32", "lag": "#b26a00", "broken": "#c62828"}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// hostLines are the text lines of a host's box, after its name.
func hostLines(v *View, h *Host) []string {
	lines := []string{h.Address + " · " + h.Mode, h.State}
	if h.Writer && v.SemiSync != "" {
		ss := v.SemiSync
		if strings.HasPrefix(ss, "OFF") {
			ss = "OFF"
		}
		lines[1] += " · semi-sync " + ss
	}
	var roles []string
	for _, r := range h.Roles {
		roles = append(roles, r.Role+" "+r.IP)
	}
	switch {
	case len(roles) == 0:
		lines = append(lines, "no role")
	case len(roles) <= 2:
		lines = append(lines, roles...)
	default:
		lines = append(lines, roles[0], fmt.Sprintf("+%d more", len(roles)-1))
	}
	if h.Problem != "" {
		lines = append(lines, "! "+h.Problem)
	} else if h.Agent != "" {
		lines = append(lines, "! "+h.Agent)
	} else if h.Fenced {
		lines = append(lines, "fenced")
	}
	for i := range lines {
		lines[i] = truncate(lines[i], 31)
	}
	return lines
}

// hostTitle is the tooltip: everything, untruncated.
func hostTitle(h *Host) string {
	parts := []string{h.Name + " (" + h.Address + ", " + h.Mode + ")", "state " + h.State}
	if h.Reason != "" {
		parts = append(parts, h.Reason)
	}
	for _, r := range h.Roles {
		parts = append(parts, r.Role+" "+r.IP)
	}
	for _, s := range []string{h.Problem, h.Agent} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, "\n")
}

// MonitorLine is the monitor's own view: its network check and mode.
func MonitorLine(v *View) string {
	s := "monitor: mode " + v.Mode
	if len(v.PingIPs) > 0 {
		s += " · ping_ips " + strings.Join(v.PingIPs, ", ")
		if v.NetworkDown {
			s += " unreachable: cut off, changing nothing"
		} else {
			s += " ok"
		}
	}
	if v.Writer == "" {
		s += " · no writer"
	}
	return s
}

// SVG writes the topology as a standalone SVG image (presentation
// attributes only, no CSS or script, so it renders the same in the page,
// a browser tab, a chat client or a report).
func SVG(out io.Writer, v *View) error {
	l := LayoutOf(v)
	var b strings.Builder
	esc := html.EscapeString
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="topology" viewBox="0 0 %d %d" width="%d" height="%d" font-family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif" font-size="12">`+"\n",
		l.Width, l.Height, l.Width, l.Height)
	fmt.Fprintf(&b, `<title>%s</title>`+"\n", esc("cluster "+v.Cluster))
	b.WriteString(`<defs>`)
	for _, c := range []string{"ok", "lag", "broken"} {
		fmt.Fprintf(&b, `<marker id="arrow-%s" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="%s"/></marker>`, c, edgeColor[c])
	}
	b.WriteString("</defs>\n")
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", l.Width, l.Height)
	monColor := "#455a64"
	if v.NetworkDown {
		monColor = "#c62828"
	}
	fmt.Fprintf(&b, `<text class="monitor" x="%d" y="%d" fill="%s">%s</text>`+"\n", margin, margin+12, monColor, esc(MonitorLine(v)))

	for _, e := range Edges(v) {
		writeEdge(&b, l, e)
	}
	for i := range v.Hosts {
		writeHost(&b, v, &v.Hosts[i], l.Boxes[v.Hosts[i].Name])
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(out, b.String())
	return err
}

func writeEdge(b *strings.Builder, l Layout, e Edge) {
	from, to := l.Boxes[e.From], l.Boxes[e.To]
	color := edgeColor[e.Class]
	dash := ""
	if e.Class == "broken" {
		dash = ` stroke-dasharray="6 4"`
	}
	var x1, y1, x2, y2, lx, ly int
	anchor := "middle"
	if from.Depth == to.Depth {
		// Side by side (the masters): one arrow above the middle, the way
		// back below it, each labelled on its own side.
		off, dy := -14, -6
		if from.X > to.X {
			off, dy = 14, 16
		}
		if from.X < to.X {
			x1, x2 = from.X+from.W, to.X
		} else {
			x1, x2 = from.X, to.X+to.W
		}
		y1 = from.Y + from.H/2 + off
		y2 = y1
		lx, ly = (x1+x2)/2, y1+dy
	} else {
		x1, y1 = from.X+from.W/2, from.Y+from.H
		x2, y2 = to.X+to.W/2, to.Y
		// The label beside the middle of the arrow, on its outer side, so
		// that sibling arrows' labels do not meet.
		lx, ly = (x1+x2)/2+8, (y1+y2)/2+4
		if x2 < x1 {
			lx, anchor = (x1+x2)/2-8, "end"
		} else {
			anchor = "start"
		}
	}
	label := e.Label
	if from.Depth == to.Depth {
		// Between side-by-side boxes the label has the gap's width (about
		// 6.6 units a character at this size).
		label = truncate(label, max(8, (abs(x2-x1)-16)*10/66))
	}
	fmt.Fprintf(b, `<g class="edge edge-%s" data-from="%s" data-to="%s"><title>%s</title>`, e.Class, html.EscapeString(e.From), html.EscapeString(e.To), html.EscapeString(e.Title))
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"%s marker-end="url(#arrow-%s)"/>`, x1, y1, x2, y2, color, dash, e.Class)
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="%s" fill="%s" stroke="#ffffff" stroke-width="4" paint-order="stroke">%s</text>`, lx, ly, anchor, color, html.EscapeString(label))
	b.WriteString("</g>\n")
}

func writeHost(b *strings.Builder, v *View, h *Host, box Box) {
	esc := html.EscapeString
	stroke, fill := stateColor(h.State)
	width := 2
	if h.Writer {
		width = 4
	}
	var roles []string
	for _, r := range h.Roles {
		roles = append(roles, r.Role+"("+r.IP+")")
	}
	fmt.Fprintf(b, `<g class="host state-%s" data-host="%s" data-state="%s" data-roles="%s" data-writer="%t" tabindex="0" role="button">`,
		esc(h.State), esc(h.Name), esc(h.State), esc(strings.Join(roles, " ")), h.Writer)
	fmt.Fprintf(b, `<title>%s</title>`, esc(hostTitle(h)))
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="%d" rx="8" fill="%s" stroke="%s" stroke-width="%d"/>`, box.X, box.Y, box.W, box.H, fill, stroke, width)
	fmt.Fprintf(b, `<path d="M%d,%d h%d v22 h-%d z" fill="%s"/>`, box.X+1, box.Y+1, box.W-2, box.W-2, stroke)
	fmt.Fprintf(b, `<text x="%d" y="%d" fill="#ffffff" font-weight="bold" font-size="14">%s</text>`, box.X+10, box.Y+17, esc(h.Name))
	if h.Writer {
		fmt.Fprintf(b, `<text x="%d" y="%d" fill="#ffffff" font-weight="bold" text-anchor="end">WRITER</text>`, box.X+box.W-10, box.Y+17)
	}
	for i, line := range hostLines(v, h) {
		color, weight := "#212121", ""
		switch {
		case i == 1:
			color, weight = stroke, ` font-weight="bold"`
		case strings.HasPrefix(line, "! "):
			color = "#c62828"
		}
		fmt.Fprintf(b, `<text x="%d" y="%d" fill="%s"%s>%s</text>`, box.X+10, box.Y+38+i*15, color, weight, esc(line))
	}
	b.WriteString("</g>\n")
}

// DOT writes the topology in Graphviz's language: `mmm show --format dot |
// dot -Tpng`. The masters share a rank; arrows point from source to
// replica, labelled as in the SVG.
func DOT(out io.Writer, v *View) error {
	var b strings.Builder
	q := dotQuote
	fmt.Fprintf(&b, "digraph %s {\n", q(v.Cluster))
	fmt.Fprintf(&b, "  graph [label=%s, labelloc=t, fontname=\"Helvetica\", rankdir=TB];\n", q(MonitorLine(v)))
	b.WriteString("  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fontsize=11];\n")
	b.WriteString("  edge [fontname=\"Helvetica\", fontsize=10];\n")
	var masters []string
	for _, h := range v.Hosts {
		if h.Mode == "master" {
			masters = append(masters, q(h.Name))
		}
	}
	if len(masters) > 0 {
		fmt.Fprintf(&b, "  { rank=same; %s; }\n", strings.Join(masters, "; "))
	}
	for i := range v.Hosts {
		h := &v.Hosts[i]
		stroke, fill := stateColor(h.State)
		width := 1
		if h.Writer {
			width = 3
		}
		name := h.Name
		if h.Writer {
			name += " (WRITER)"
		}
		label := strings.Join(append([]string{name}, hostLines(v, h)...), "\n")
		fmt.Fprintf(&b, "  %s [label=%s, color=%s, fillcolor=%s, penwidth=%d];\n", q(h.Name), q(label), q(stroke), q(fill), width)
	}
	for _, e := range Edges(v) {
		style := ""
		if e.Class == "broken" {
			style = ", style=dashed"
		}
		fmt.Fprintf(&b, "  %s -> %s [label=%s, color=%s, fontcolor=%s%s];\n", q(e.From), q(e.To), q(e.Label), q(edgeColor[e.Class]), q(edgeColor[e.Class]), style)
	}
	b.WriteString("}\n")
	_, err := io.WriteString(out, b.String())
	return err
}

// dotQuote quotes a DOT ID; a newline becomes DOT's \n line break.
func dotQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
