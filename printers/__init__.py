"""ESC/POS printing: layouts, connections, spool. Imports nothing else of ours."""
