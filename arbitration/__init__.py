"""Returns (退单), bounce detection, disputes and rulings (裁定) written back as rules."""
