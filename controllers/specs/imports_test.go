package specs

import (
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// forbiddenImports are packages that read or write the cluster, the network, files or randomness: the
// builders must stay pure, so none of them may be imported here (a prefix forbids the whole tree).
var forbiddenImports = []string{
	"sigs.k8s.io/controller-runtime/pkg/client",
	"k8s.io/client-go",
	"net/http",
	"os",
	"os/exec",
	"io/ioutil",
	"crypto/rand",
	"math/rand",
}

func forbidden(path string) bool {
	for _, f := range forbiddenImports {
		if path == f || strings.HasPrefix(path, f+"/") {
			return true
		}
	}
	return false
}

// TestBuildersImportNoIO checks the package's own (non-test) imports.
func TestBuildersImportNoIO(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatalf("parse %s: %v", name, err)
		}
		for _, imp := range f.Imports {
			path, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				t.Fatalf("%s: import %s: %v", name, imp.Path.Value, err)
			}
			if forbidden(path) {
				t.Errorf("%s imports %s: the builders must not do I/O", name, path)
			}
		}
	}
}

// TestBuildersDependOnNoClient checks the transitive dependencies: no Kubernetes client may be linked in,
// even through another package.
func TestBuildersDependOnNoClient(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not on PATH")
	}
	out, err := exec.Command(goTool, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "sigs.k8s.io/controller-runtime/pkg/client") || strings.HasPrefix(dep, "k8s.io/client-go") {
			t.Errorf("the builders depend on %s", dep)
		}
	}
}
