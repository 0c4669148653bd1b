"""The runner side: command-line flags, the run lock, the run summary, comparisons."""
