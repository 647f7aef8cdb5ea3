package traffic

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// routedOnly are the names only this package may use: the Elastic IP
// calls, and the ALB's listener and rule calls that set or read the
// weights, with their input types. A step that calls them itself sees or
// moves traffic behind the router's back.
var routedOnly = map[string]bool{
	"DescribeAddresses": true, "DescribeAddressesInput": true,
	"AssociateAddress": true, "AssociateAddressInput": true,
	"DisassociateAddress": true, "DisassociateAddressInput": true,
	"ModifyListener": true, "ModifyListenerInput": true,
	"ModifyRule": true, "ModifyRuleInput": true,
	"DescribeListeners": true, "DescribeListenersInput": true,
	"DescribeRules": true, "DescribeRulesInput": true,
}

// allowed are the folders (from the module root) that may use them: this
// package; internal/awsapi, which declares the client interface; and
// steptest, the tests' own view of the simulated region, which checks
// where the Elastic IP is without trusting the router under test.
var allowed = map[string]bool{"internal/traffic": true, "internal/awsapi": true, "lambdas/internal/steptest": true}

// TestNoStepBypassesTheRouter: no Go file under lambdas/ or internal/
// (tests aside) calls the routing API (Elastic IP, ALB listener and rule
// weights) or builds an ElasticIP router
// itself; traffic.For is the one way in. It reads the syntax tree, not the
// text, so the "ec2:AssociateAddress" records and error names the steps
// write are not mistaken for calls.
func TestNoStepBypassesTheRouter(t *testing.T) {
	var found []string
	for _, root := range []string{"lambdas", "internal"} {
		found = append(found, bypasses(t, root)...)
	}
	sort.Strings(found)
	for _, f := range found {
		t.Errorf("bypasses the traffic router: %s", f)
	}
}

// bypasses lists the uses of routedOnly names and ElasticIP literals in
// the non-test Go files under root (a folder of the module root), outside
// the allowed folders.
func bypasses(t *testing.T, root string) []string {
	t.Helper()
	module := filepath.Join("..", "..")
	var found []string
	err := filepath.WalkDir(filepath.Join(module, root), func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(module, path)
		if err != nil {
			return err
		}
		if e.IsDir() {
			if allowed[filepath.ToSlash(rel)] {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.SelectorExpr:
				if routedOnly[n.Sel.Name] {
					found = append(found, where(rel, fset, n.Sel.Pos())+" uses "+n.Sel.Name)
				}
			case *ast.CompositeLit:
				if s, ok := n.Type.(*ast.SelectorExpr); ok && s.Sel.Name == "ElasticIP" {
					if x, ok := s.X.(*ast.Ident); ok && x.Name == "traffic" {
						found = append(found, where(rel, fset, n.Pos())+" builds a traffic.ElasticIP")
					}
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func where(file string, fset *token.FileSet, p token.Pos) string {
	pos := fset.Position(p)
	return fmt.Sprintf("%s:%d", filepath.ToSlash(file), pos.Line)
}
