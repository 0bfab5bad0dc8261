throw new Error("plugin exploded at import");
