package netfront

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// maintenance is the answer the snippet makes nginx give while the flag
// exists, read from the snippet so the Front cannot drift from it.
type maintenance struct {
	status      int         // the if block's `return`
	header      http.Header // the error_page location's `add_header … always`
	contentType string      // its default_type
	// page is error_page's URI, "" for a named location. nginx redirects
	// to a URI with the method changed to GET (for all methods but GET
	// and HEAD), so every method gets the page; to a named location it
	// keeps the method, and the static module answers 405 to the others.
	// The page's own location is internal: 404 to a request from outside.
	page string
}

// directive is one nginx statement with the blocks it sits in, outermost
// first, each as its own header (e.g. [location @x]).
type directive struct {
	args   []string
	blocks [][]string
}

// parseSnippet reads the answer out of greenlight-maintenance.conf: the
// status the `if` block returns, the named location error_page sends that
// status to, and that location's headers and content type.
func parseSnippet(conf string) (maintenance, error) {
	dirs, err := parseConf(conf)
	if err != nil {
		return maintenance{}, err
	}
	m := maintenance{header: http.Header{}}
	for _, d := range dirs {
		if d.args[0] == "return" && len(d.blocks) > 0 && d.blocks[len(d.blocks)-1][0] == "if" && len(d.args) >= 2 {
			if m.status, err = strconv.Atoi(d.args[1]); err != nil {
				return maintenance{}, fmt.Errorf("netfront: snippet: return %q: %w", d.args[1], err)
			}
		}
	}
	if m.status == 0 {
		return maintenance{}, fmt.Errorf("netfront: snippet: no `return` inside an `if` block")
	}
	location := ""
	for _, d := range dirs {
		if d.args[0] != "error_page" || len(d.args) < 3 {
			continue
		}
		for _, code := range d.args[1 : len(d.args)-1] {
			if code == strconv.Itoa(m.status) {
				location = d.args[len(d.args)-1]
			}
		}
	}
	switch {
	case strings.HasPrefix(location, "/"):
		m.page = location
	case !strings.HasPrefix(location, "@"):
		return maintenance{}, fmt.Errorf("netfront: snippet: no error_page %d to a named location or a URI", m.status)
	}
	found := false
	for _, d := range dirs {
		if len(d.blocks) == 0 {
			continue
		}
		// location @name, or location = /uri for error_page's URI.
		b := d.blocks[len(d.blocks)-1]
		if b[0] != "location" || b[len(b)-1] != location || len(b) != 2 && !(len(b) == 3 && b[1] == "=") {
			continue
		}
		found = true
		switch {
		// Without `always` nginx adds the header to 2xx and 3xx answers
		// only, never to this one.
		case d.args[0] == "add_header" && len(d.args) == 4 && d.args[3] == "always":
			m.header.Add(d.args[1], d.args[2])
		case d.args[0] == "default_type" && len(d.args) == 2:
			m.contentType = d.args[1]
		}
	}
	if !found {
		return maintenance{}, fmt.Errorf("netfront: snippet: no location %s", location)
	}
	if m.header.Get("Retry-After") == "" {
		return maintenance{}, fmt.Errorf("netfront: snippet: location %s adds no Retry-After always", location)
	}
	if m.contentType == "" {
		return maintenance{}, fmt.Errorf("netfront: snippet: location %s sets no default_type", location)
	}
	return m, nil
}

// parseConf splits nginx configuration text into directives: words
// separated by blanks, "…" and '…' quoting (backslash escapes the next
// character), # comments to the end of the line, ";" ending a directive,
// "{" opening a block headed by the words before it, "}" closing it.
func parseConf(conf string) ([]directive, error) {
	var (
		dirs   []directive
		blocks [][]string
		words  []string
		word   strings.Builder
		inWord bool
	)
	endWord := func() {
		if inWord {
			words = append(words, word.String())
			word.Reset()
			inWord = false
		}
	}
	for i := 0; i < len(conf); i++ {
		c := conf[i]
		switch {
		case c == '#' && !inWord:
			for i < len(conf) && conf[i] != '\n' {
				i++
			}
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			endWord()
		case c == '"' || c == '\'':
			end := i + 1
			for ; end < len(conf) && conf[end] != c; end++ {
				if conf[end] == '\\' && end+1 < len(conf) {
					end++
					word.WriteByte(conf[end])
					continue
				}
				word.WriteByte(conf[end])
			}
			if end == len(conf) {
				return nil, fmt.Errorf("netfront: snippet: unterminated %c", c)
			}
			inWord = true
			i = end
		case c == ';':
			endWord()
			if len(words) == 0 {
				return nil, fmt.Errorf("netfront: snippet: empty directive")
			}
			dirs = append(dirs, directive{args: words, blocks: append([][]string(nil), blocks...)})
			words = nil
		case c == '{':
			endWord()
			if len(words) == 0 {
				return nil, fmt.Errorf("netfront: snippet: block without a name")
			}
			blocks = append(blocks, words)
			words = nil
		case c == '}':
			endWord()
			if len(words) != 0 || len(blocks) == 0 {
				return nil, fmt.Errorf("netfront: snippet: unexpected }")
			}
			blocks = blocks[:len(blocks)-1]
		default:
			word.WriteByte(c)
			inWord = true
		}
	}
	endWord()
	if len(words) != 0 || len(blocks) != 0 {
		return nil, fmt.Errorf("netfront: snippet: unterminated directive or block")
	}
	return dirs, nil
}
