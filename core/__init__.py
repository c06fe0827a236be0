"""The layer every other one imports: errors the user can act on and the stack file reader."""
