package schema

import (
	"fmt"
	"sort"
	"strings"

	"github.com/agext/levenshtein"

	"github.com/mysql-mmm/mmm/internal/flavor"
)

// splitColumns splits "SELECT (a, b)" into "SELECT" and ["a", "b"].
func splitColumns(priv string) (name string, cols []string, ok bool) {
	priv = strings.TrimSpace(priv)
	open := strings.IndexByte(priv, '(')
	if open < 0 {
		return priv, nil, true
	}
	if !strings.HasSuffix(priv, ")") {
		return "", nil, false
	}
	inner := priv[open+1 : len(priv)-1]
	for _, c := range strings.Split(inner, ",") {
		c = strings.Trim(strings.TrimSpace(c), "`")
		if c == "" {
			return "", nil, false
		}
		cols = append(cols, c)
	}
	sort.Strings(cols)
	return strings.TrimSpace(priv[:open]), cols, true
}

// suggestPrivilege returns `; did you mean "X"?` for a close known name.
func suggestPrivilege(f flavor.Flavor, p string) string {
	best, bestDist := "", 4
	for _, k := range flavor.Privileges(f) {
		if d := levenshtein.Distance(p, k, nil); d < bestDist {
			best, bestDist = k, d
		}
	}
	if best == "" {
		return "."
	}
	return fmt.Sprintf("; did you mean %q?", best)
}
