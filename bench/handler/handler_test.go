package handler

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func do(t *testing.T, method, target, body string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	New().ServeHTTP(rec, httptest.NewRequest(method, target, strings.NewReader(body)))
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b)
}

func TestHandler(t *testing.T) {
	if code, body := do(t, "GET", "/hello", ""); code != 200 || body != Hello || len(body) != 13 {
		t.Errorf("/hello: %d %q", code, body)
	}
	code, body := do(t, "GET", "/bytes?n=200000", "")
	if code != 200 || len(body) != 200000 || body[:3] != "abc" || body[65536:65539] != "abc" {
		t.Errorf("/bytes: %d, %d octets", code, len(body))
	}
	if code, body := do(t, "GET", "/bytes?n=0", ""); code != 200 || body != "" {
		t.Errorf("/bytes?n=0: %d %q", code, body)
	}
	for _, bad := range []string{"/bytes", "/bytes?n=-1", "/bytes?n=x", "/bytes?n=2000000000000"} {
		if code, _ := do(t, "GET", bad, ""); code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", bad, code)
		}
	}
	if code, body := do(t, "POST", "/echo", "ping"); code != 200 || body != "ping" {
		t.Errorf("/echo: %d %q", code, body)
	}
	if code, body := do(t, "POST", "/echo", strings.Repeat("x", MaxEcho+1)); code != http.StatusBadRequest {
		t.Errorf("/echo too large: %d %d octets", code, len(body))
	}
	if code, body := do(t, "POST", "/discard", strings.Repeat("y", 100000)); code != 200 || body != "100000\n" {
		t.Errorf("/discard: %d %q", code, body)
	}
	if code, _ := do(t, "GET", "/nothing", ""); code != http.StatusNotFound {
		t.Errorf("/nothing: %d", code)
	}
}
