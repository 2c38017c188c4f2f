;;; e2e-eglot.el --- end-to-end test of `kiln lsp' with Emacs's Eglot, in batch mode  -*- lexical-binding: t -*-
;; Opens a copy of sample.py (E2E_FILE), starts kiln (KILN, trace in E2E_LOG) through Eglot,
;; types after `total = ', asks for a completion, applies its edit and saves; e2e.sh then
;; checks that the file compiles.
; Debian's elpa-eglot keeps its sources in site-lisp/elpa-src, which -Q leaves out.
(dolist (dir (file-expand-wildcards "/usr/share/emacs/site-lisp/elpa-src/*"))
  (add-to-list 'load-path dir))
(require 'eglot)
(setq eglot-server-programs
      `((python-mode . (,(getenv "KILN") "lsp" "--log" ,(getenv "E2E_LOG")))))
(setq eglot-send-changes-idle-time 0)
(defun e2e-fail (fmt &rest args)
  (princ (concat "eglot: " (apply #'format fmt args) "\n") #'external-debugging-output)
  (kill-emacs 1))
(find-file (getenv "E2E_FILE"))
(python-mode)
; eglot-ensure waits for a command loop that batch mode lacks: start the server directly,
; in a transient project of the file's folder.
(eglot '(python-mode) (cons 'transient default-directory) 'eglot-lsp-server
       (cdr (assq 'python-mode eglot-server-programs)) "python")
(let ((deadline (+ (float-time) 30)))
  (while (and (not (eglot-current-server)) (< (float-time) deadline))
    (accept-process-output nil 0.1)))
(unless (eglot-current-server) (e2e-fail "the server did not start"))
(goto-char (point-min))
(re-search-forward "^    total = $")
(dolist (ch '("a" "r" "e"))
  (insert ch)
  (eglot--signal-textDocument/didChange))
(let* ((server (eglot-current-server))
       (resp (jsonrpc-request server :textDocument/completion
                              (eglot--TextDocumentPositionParams) :timeout 60))
       (items (plist-get resp :items))
       (item (and items (> (length items) 0) (aref items 0))))
  (unless item (e2e-fail "no completion items: %S" resp))
  (eglot--apply-text-edits (vector (plist-get item :textEdit)))
  (princ (format "eglot: completed to %s\n"
                 (buffer-substring (line-beginning-position) (line-end-position))))
  (save-buffer)
  (eglot-shutdown server)
  (kill-emacs 0))
