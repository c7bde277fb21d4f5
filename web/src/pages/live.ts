// Pages: live. (registers its routes with route())
export {};
