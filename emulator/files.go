package emulator

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// file is an output the emulator serves: batch results or a video.
type file struct {
	mimeType string
	data     []byte
	created  time.Time
}

// downloadURI is where a client fetches a file's bytes, the form the real
// service uses for generated files.
func (s *Server) downloadURI(id string) string {
	return s.URL + "/download/v1beta/files/" + id + ":download?alt=media"
}

// routeFiles serves files/{id} (metadata) and files/{id}:download (bytes),
// with or without the /download prefix.
func (s *Server) routeFiles(w http.ResponseWriter, r *http.Request, segs []string) *apiError {
	if len(segs) != 1 || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		return errMethodNotFound
	}
	id, verb, _ := strings.Cut(segs[0], ":")
	s.mu.Lock()
	f, ok := s.files[id]
	s.mu.Unlock()
	if !ok {
		return errNotFound("Requested entity was not found.")
	}
	switch verb {
	case "download":
		w.Header().Set("Content-Type", f.mimeType)
		w.Header().Set("Content-Length", strconv.Itoa(len(f.data)))
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = w.Write(f.data)
		}
		return nil
	case "":
		writeJSON(w, http.StatusOK, map[string]any{
			"name":        "files/" + id,
			"mimeType":    f.mimeType,
			"sizeBytes":   strconv.Itoa(len(f.data)),
			"createTime":  formatTime(f.created),
			"updateTime":  formatTime(f.created),
			"uri":         s.URL + "/v1beta/files/" + id,
			"downloadUri": s.downloadURI(id),
			"state":       "ACTIVE",
			"source":      "GENERATED",
		})
		return nil
	}
	return errMethodNotFound
}
