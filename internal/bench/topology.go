package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// labTopology turns the 4-host lab file (two masters, slave1 and slave2 on
// 198.18.0.11-.14) into one with hosts hosts on subnet ("198.18.10"): the two
// masters plus hosts-2 slaves named slave1, slave2, … on .13, .14, …. The
// reader role spans the slaves, or the masters when there are none.
func labTopology(src []byte, filename, subnet string, hosts int) ([]byte, error) {
	if hosts < 2 || hosts > 50 {
		return nil, fmt.Errorf("%d hosts: a lab has the two masters and up to 48 slaves", hosts)
	}
	moved := strings.ReplaceAll(string(src), "198.18.0.", subnet+".")
	f, diags := hclwrite.ParseConfig([]byte(moved), filename, hcl.InitialPos)
	if diags.HasErrors() {
		return nil, diags
	}
	body := f.Body()

	// Drop the file's slaves; the masters stay as they are.
	var reader *hclwrite.Block
	for _, b := range body.Blocks() {
		switch {
		case b.Type() == "host" && len(b.Labels()) == 1 && strings.HasPrefix(b.Labels()[0], "slave"):
			body.RemoveBlock(b)
		case b.Type() == "role" && len(b.Labels()) == 1 && b.Labels()[0] == "reader":
			reader = b
		}
	}
	if reader == nil {
		return nil, fmt.Errorf("%s: no role \"reader\" block", filename)
	}

	var readers []cty.Value
	for i := 1; i <= hosts-2; i++ {
		name := fmt.Sprintf("slave%d", i)
		h := hclwrite.NewBlock("host", []string{name})
		h.Body().SetAttributeValue("address", cty.StringVal(fmt.Sprintf("%s.%d", subnet, 12+i)))
		h.Body().SetAttributeValue("mode", cty.StringVal("slave"))
		body.AppendNewline()
		body.AppendBlock(h)
		readers = append(readers, cty.StringVal(name))
	}
	if len(readers) == 0 {
		readers = []cty.Value{cty.StringVal("master1"), cty.StringVal("master2")}
	}
	reader.Body().SetAttributeValue("hosts", cty.ListVal(readers))
	return hclwrite.Format(f.Bytes()), nil
}

// writeLabTopology writes labTopology's file to path.
func writeLabTopology(example, path, subnet string, hosts int) error {
	src, err := os.ReadFile(example)
	if err != nil {
		return err
	}
	out, err := labTopology(src, example, subnet, hosts)
	if err != nil {
		return err
	}
	return os.WriteFile(path, out, 0o644)
}
