"""Object removal: the regions a hole mask asks to fill, PatchMatch or a model filling them,
harmonising the fill with its surroundings, and the feathered composite."""
