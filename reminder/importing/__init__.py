"""Reading tables into validated rows, and the import pipeline that stores them."""
