package emulator

import (
	"encoding/json"
	"net/http"
)

// apiError is the Google API error body, {"error":{"code","message","status"}}.
type apiError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Status  string `json:"status"`
}

func (e *apiError) Error() string { return "emulator: " + e.Status + ": " + e.Message }

func errInvalid(msg string) *apiError {
	return &apiError{Code: http.StatusBadRequest, Message: msg, Status: "INVALID_ARGUMENT"}
}

func errNotFound(msg string) *apiError {
	return &apiError{Code: http.StatusNotFound, Message: msg, Status: "NOT_FOUND"}
}

func errPrecondition(msg string) *apiError {
	return &apiError{Code: http.StatusBadRequest, Message: msg, Status: "FAILED_PRECONDITION"}
}

// writeError writes e in the shape every Google API uses.
func writeError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.Code, struct {
		Error *apiError `json:"error"`
	}{e})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		b = []byte(`{"error":{"code":500,"message":"Internal error encountered.","status":"INTERNAL"}}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}
