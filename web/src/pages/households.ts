// Pages: households. (registers its routes with route())
export {};
